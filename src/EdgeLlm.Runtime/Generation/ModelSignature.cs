using EdgeLlm.Runtime.ModelFolders;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// The inputs and outputs of a decoder session, checked against genai_config.json once at load so that a
/// mismatched folder fails with a message naming the field instead of deep inside the first run.
/// </summary>
internal sealed class ModelSignature
{
    private ModelSignature(DecoderConfig decoder, string? positionIds, TensorElementType kvType, TensorElementType logitsType, bool lastPositionLogitsOnly)
    {
        LastPositionLogitsOnly = lastPositionLogitsOnly;
        InputIds = decoder.InputIdsName;
        AttentionMask = decoder.AttentionMaskName;
        PositionIds = positionIds;
        Logits = decoder.LogitsName;
        var layers = decoder.NumHiddenLayers;
        PastKeys = new string[layers];
        PastValues = new string[layers];
        PresentKeys = new string[layers];
        PresentValues = new string[layers];
        for (var i = 0; i < layers; i++)
        {
            PastKeys[i] = decoder.PastKeyName(i);
            PastValues[i] = decoder.PastValueName(i);
            PresentKeys[i] = decoder.PresentKeyName(i);
            PresentValues[i] = decoder.PresentValueName(i);
        }

        KvType = kvType;
        LogitsType = logitsType;
    }

    public string InputIds { get; }
    public string AttentionMask { get; }

    /// <summary>The position ids input, when the model has one (GroupQueryAttention models derive positions from the mask).</summary>
    public string? PositionIds { get; }

    public string Logits { get; }
    public string[] PastKeys { get; }
    public string[] PastValues { get; }
    public string[] PresentKeys { get; }
    public string[] PresentValues { get; }
    public TensorElementType KvType { get; }
    public TensorElementType LogitsType { get; }

    /// <summary>True when the logits output is [batch, 1, vocab] for any input length (the last position only).</summary>
    public bool LastPositionLogitsOnly { get; }

    public int KvElementSize => KvType == TensorElementType.Float ? 4 : 2;

    /// <exception cref="ModelFolderException">The session's inputs or outputs do not match genai_config.json.</exception>
    public static ModelSignature Read(InferenceSession session, GenAiConfig config, string configPath, string modelPath)
    {
        var decoder = config.Decoder;
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        var known = new HashSet<string>(StringComparer.Ordinal);

        RequireInt64(Require(inputs, decoder.InputIdsName, "model.decoder.inputs.input_ids", "input", configPath, modelPath), decoder.InputIdsName, modelPath);
        RequireInt64(Require(inputs, decoder.AttentionMaskName, "model.decoder.inputs.attention_mask", "input", configPath, modelPath), decoder.AttentionMaskName, modelPath);
        known.Add(decoder.InputIdsName);
        known.Add(decoder.AttentionMaskName);

        string? positionIds = null;
        if (inputs.TryGetValue(decoder.PositionIdsName, out var position))
        {
            RequireInt64(position, decoder.PositionIdsName, modelPath);
            positionIds = decoder.PositionIdsName;
            known.Add(positionIds);
        }

        var logits = Require(outputs, decoder.LogitsName, "model.decoder.outputs.logits", "output", configPath, modelPath);
        if (logits.ElementDataType is not (TensorElementType.Float or TensorElementType.Float16))
        {
            throw new ModelFolderException(modelPath, null, $"output '{decoder.LogitsName}' has element type {logits.ElementDataType}; this runtime reads float32 or float16 logits.");
        }

        var vocabDim = logits.Dimensions.Length == 3 ? logits.Dimensions[2] : -1;
        if (vocabDim > 0 && vocabDim != config.VocabSize)
        {
            throw new ModelFolderException(configPath, "model.vocab_size", $"is {config.VocabSize}, but {modelPath} produces logits over {vocabDim} tokens.");
        }

        TensorElementType? kvType = null;
        for (var i = 0; i < decoder.NumHiddenLayers; i++)
        {
            foreach (var (name, field, kind, metadata) in new[]
            {
                (decoder.PastKeyName(i), "model.decoder.inputs.past_key_names", "input", inputs),
                (decoder.PastValueName(i), "model.decoder.inputs.past_value_names", "input", inputs),
                (decoder.PresentKeyName(i), "model.decoder.outputs.present_key_names", "output", outputs),
                (decoder.PresentValueName(i), "model.decoder.outputs.present_value_names", "output", outputs),
            })
            {
                var node = Require(metadata, name, field, kind, configPath, modelPath);
                CheckKvNode(node, name, config, configPath, modelPath);
                kvType ??= node.ElementDataType;
                if (node.ElementDataType != kvType)
                {
                    throw new ModelFolderException(modelPath, null, $"{kind} '{name}' has element type {node.ElementDataType} but other cache tensors are {kvType}.");
                }

                known.Add(name);
            }
        }

        foreach (var name in inputs.Keys)
        {
            if (!known.Contains(name))
            {
                throw new ModelFolderException(modelPath, null,
                    $"has input '{name}' that genai_config.json does not describe (model.decoder.num_hidden_layers is {decoder.NumHiddenLayers}); " +
                    "this runtime feeds only input_ids, attention_mask, position_ids and the past key/values of each layer.");
            }
        }

        var lastOnly = logits.Dimensions.Length == 3 && logits.Dimensions[1] == 1;
        return new ModelSignature(decoder, positionIds, kvType!.Value, logits.ElementDataType, lastOnly);
    }

    private static NodeMetadata Require(IReadOnlyDictionary<string, NodeMetadata> nodes, string name, string field, string kind, string configPath, string modelPath)
    {
        if (nodes.TryGetValue(name, out var node))
        {
            return node;
        }

        var names = string.Join(", ", nodes.Keys.Take(8)) + (nodes.Count > 8 ? $", … ({nodes.Count} in all)" : "");
        throw new ModelFolderException(configPath, field,
            $"names {kind} '{name}', which {modelPath} does not have (its {kind}s: {names}); make the field match the model or use the model.onnx this file was written for.");
    }

    private static void RequireInt64(NodeMetadata node, string name, string modelPath)
    {
        if (node.ElementDataType != TensorElementType.Int64)
        {
            throw new ModelFolderException(modelPath, null, $"input '{name}' has element type {node.ElementDataType}; this runtime feeds int64 as onnxruntime-genai's model builder writes.");
        }
    }

    private static void CheckKvNode(NodeMetadata node, string name, GenAiConfig config, string configPath, string modelPath)
    {
        if (node.ElementDataType is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16))
        {
            throw new ModelFolderException(modelPath, null, $"'{name}' has element type {node.ElementDataType}; the key/value cache must be float32, float16 or bfloat16.");
        }

        var dims = node.Dimensions;
        if (dims.Length != 4)
        {
            throw new ModelFolderException(modelPath, null, $"'{name}' has {dims.Length} dimensions; the key/value cache is [batch, kv_heads, sequence, head_size].");
        }

        if (dims[1] > 0 && dims[1] != config.Decoder.NumKeyValueHeads)
        {
            throw new ModelFolderException(configPath, "model.decoder.num_key_value_heads", $"is {config.Decoder.NumKeyValueHeads}, but '{name}' in {modelPath} has {dims[1]} heads.");
        }

        if (dims[3] > 0 && dims[3] != config.Decoder.HeadSize)
        {
            throw new ModelFolderException(configPath, "model.decoder.head_size", $"is {config.Decoder.HeadSize}, but '{name}' in {modelPath} has head size {dims[3]}.");
        }
    }
}
