using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.Onnx;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// Builds the decoder graph the way onnxruntime-genai's model builder does for the CPU execution provider
/// (float32 I/O, GroupQueryAttention with rotary embedding inside the op, packed Q/K/V projection),
/// writing random weights as it goes. Node, value and initializer names follow the builder's.
/// </summary>
/// <remarks>
/// Like the builder, Phi-3's fused projections are not kept as they are in the Hugging Face checkpoint:
/// gate/up become two MatMuls and Q/K/V one packed MatMul, the same as for Llama and Qwen2. The lm_head is
/// its own matrix even where the real model ties it to the embeddings; the builder writes a separate
/// lm_head initializer too, so sizes match. Int4 weights use MatMulNBits without zero points.
/// </remarks>
internal sealed class DecoderGraph
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string Logits = "logits";

    private const string SeqLensK = "/model/attn_mask_reformat/attn_mask_subgraph/Sub/Cast/output_0";
    private const string TotalSeqLen = "/model/attn_mask_reformat/attn_mask_subgraph/Gather/Cast/output_0";
    private const string CosCache = "cos_cache";
    private const string SinCache = "sin_cache";

    private readonly ModelShape _shape;
    private readonly ModelFamily _family;
    private readonly bool _int4;
    private readonly OnnxGraphBuilder _g = new();
    private readonly WeightWriter _weights;
    private readonly IProgress<string>? _progress;
    private readonly LoraBranches? _lora;

    private DecoderGraph(ModelShape shape, ModelFamily family, bool int4, bool lora, IReadOnlyDictionary<string, AdapterParameter>? loraDefaults,
        ExternalDataWriter data, int seed, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        _shape = shape;
        _family = family;
        _int4 = int4;
        _progress = progress;
        _weights = new WeightWriter(data, _g, seed, cancellationToken);
        _lora = lora ? new LoraBranches(_g, loraDefaults) : null;
    }

    public static string PastKey(int layer) => $"past_key_values.{layer}.key";
    public static string PastValue(int layer) => $"past_key_values.{layer}.value";
    public static string PresentKey(int layer) => $"present.{layer}.key";
    public static string PresentValue(int layer) => $"present.{layer}.value";

    /// <summary>
    /// Writes all weights to <paramref name="data"/> and returns the graph and its parameter count. With <c>lora</c> the
    /// attention projections get LoRA branches (<see cref="LoraBranches"/>) whose inputs default to zero effect, or
    /// to <c>loraDefaults</c> where given.
    /// </summary>
    public static (OnnxGraph Graph, long Parameters, long InlineBytes) Build(
        ModelShape shape, ModelFamily family, bool int4, ExternalDataWriter data, int seed,
        IProgress<string>? progress, CancellationToken cancellationToken,
        bool lora = false, IReadOnlyDictionary<string, AdapterParameter>? loraDefaults = null)
    {
        var builder = new DecoderGraph(shape, family, int4, lora, loraDefaults, data, seed, progress, cancellationToken);
        builder.BuildGraph();
        return (builder._g.Build("main_graph"), builder._weights.ParameterCount, builder._weights.InlineBytes);
    }

    private void BuildGraph()
    {
        var s = _shape;
        AddInputsAndOutputs();
        MakeAttentionMaskReformatting();
        MakeRotaryCaches();

        _progress?.Report("embeddings");
        var embedWeight = _weights.Normal("model.embed_tokens.weight", [s.VocabSize, s.HiddenSize], 0, 1);
        var embeds = _g.Add("Gather", "/model/embed_tokens/Gather", [embedWeight, InputIds]);

        // Residual stream: the first norm is plain; later ones fuse the residual add (SkipSimplifiedLayerNorm output 3).
        var residual = embeds;
        var hidden = embeds;
        var outStd = 1f / MathF.Sqrt(2f * s.Layers);
        for (var layer = 0; layer < s.Layers; layer++)
        {
            _progress?.Report($"layer {layer + 1}/{s.Layers}");
            string normed;
            (normed, residual) = layer == 0
                ? (SimplifiedLayerNorm(layer, "input", hidden), residual)
                : SkipLayerNorm(layer, "input", hidden, residual, last: false);

            var attention = Attention(layer, normed, outStd);
            (normed, residual) = SkipLayerNorm(layer, "post_attention", attention, residual, last: false);
            hidden = Mlp(layer, normed, outStd);
        }

        _progress?.Report("lm_head");
        var (final, _) = SkipLayerNorm(s.Layers, "final_norm", hidden, residual, last: true);
        Linear("/model/lm_head/MatMul", "lm_head.MatMul", final, s.HiddenSize, s.VocabSize, 1f / MathF.Sqrt(s.HiddenSize), Logits);
    }

    private void AddInputsAndOutputs()
    {
        var s = _shape;
        _g.AddInput(new OnnxValueInfo(InputIds, OnnxDataType.Int64, ["batch_size", "sequence_length"]));
        _g.AddInput(new OnnxValueInfo(AttentionMask, OnnxDataType.Int64, ["batch_size", "total_sequence_length"]));
        for (var i = 0; i < s.Layers; i++)
        {
            _g.AddInput(new OnnxValueInfo(PastKey(i), OnnxDataType.Float, ["batch_size", s.KvHeads, "past_sequence_length", s.HeadSize]));
            _g.AddInput(new OnnxValueInfo(PastValue(i), OnnxDataType.Float, ["batch_size", s.KvHeads, "past_sequence_length", s.HeadSize]));
        }

        _g.AddOutput(new OnnxValueInfo(Logits, OnnxDataType.Float, ["batch_size", "sequence_length", s.VocabSize]));
        for (var i = 0; i < s.Layers; i++)
        {
            _g.AddOutput(new OnnxValueInfo(PresentKey(i), OnnxDataType.Float, ["batch_size", s.KvHeads, "total_sequence_length", s.HeadSize]));
            _g.AddOutput(new OnnxValueInfo(PresentValue(i), OnnxDataType.Float, ["batch_size", s.KvHeads, "total_sequence_length", s.HeadSize]));
        }
    }

    // seqlens_k = ReduceSum(attention_mask, axis 1) - 1 as int32 [batch_size, 1];
    // total_sequence_length = Shape(attention_mask)[1] as an int32 scalar.
    private void MakeAttentionMaskReformatting()
    {
        const string basename = "/model/attn_mask_reformat/attn_mask_subgraph";
        var one1D = _g.Int64Constant(scalar: false, 1);
        var sum = _g.Add("ReduceSum", $"{basename}/ReduceSum", [AttentionMask, one1D], attributes: OnnxAttribute.Of("keepdims", 1L));
        var sub = _g.Add("Sub", $"{basename}/Sub", [sum, one1D]);
        _g.Add("Cast", $"{basename}/Sub/Cast", [sub], attributes: OnnxAttribute.Of("to", (long)OnnxDataType.Int32));

        var shape = _g.Add("Shape", $"{basename}/Shape", [AttentionMask]);
        var gather = _g.Add("Gather", $"{basename}/Gather", [shape, _g.Int64Constant(scalar: true, 1)], attributes: OnnxAttribute.Of("axis", 0L));
        _g.Add("Cast", $"{basename}/Gather/Cast", [gather], attributes: OnnxAttribute.Of("to", (long)OnnxDataType.Int32));
    }

    private void MakeRotaryCaches()
    {
        var (cos, sin) = RotaryCache.Compute(_shape);
        long[] dims = [_shape.ContextLength, _shape.HeadSize / 2];
        _weights.Floats(CosCache, dims, cos);
        _weights.Floats(SinCache, dims, sin);
    }

    private string SimplifiedLayerNorm(int layer, string location, string input)
    {
        var weight = NormWeight(layer, location);
        var output = $"/model/layers.{layer}/{location}_layernorm/output_0";
        _g.AddWithOutputs("SimplifiedLayerNormalization", $"/model/layers.{layer}/{location}_layernorm/LayerNorm", [input, weight], [output], "",
            OnnxAttribute.Of("epsilon", _shape.RmsNormEpsilon), OnnxAttribute.Of("axis", -1L), OnnxAttribute.Of("stash_type", 1L));
        return output;
    }

    private (string Output, string Residual) SkipLayerNorm(int layer, string location, string input, string skip, bool last)
    {
        var weight = NormWeight(layer, location);
        var output = $"/model/layers.{layer}/{location}_layernorm/output_0";
        var residual = $"/model/layers.{layer}/{location}_layernorm/output_3";
        string[] outputs = last ? [output] : [output, "", "", residual];
        _g.AddWithOutputs("SkipSimplifiedLayerNormalization", $"/model/layers.{layer}/{location}_layernorm/SkipLayerNorm", [input, skip, weight], outputs,
            OnnxGraphBuilder.MicrosoftDomain, OnnxAttribute.Of("epsilon", _shape.RmsNormEpsilon));
        return (output, last ? "" : residual);
    }

    private string NormWeight(int layer, string location) =>
        _weights.Normal($"model.layers.{layer}.{location}_layernorm.weight", [_shape.HiddenSize], 1f, 0.05f);

    private string Attention(int layer, string input, float outStd)
    {
        var s = _shape;
        var qkvSize = s.QSize + (2 * s.KvSize);
        var prefix = $"/model/layers.{layer}/attn";
        var qkv = Linear($"{prefix}/qkv_proj/MatMul", $"model.layers.{layer}.attn.qkv_proj.MatMul", input, s.HiddenSize, qkvSize, 1f / MathF.Sqrt(s.HiddenSize));
        qkv = _lora?.Add($"{prefix}/qkv_proj", LoraBranches.QkvModule(layer), input, qkv, s.HiddenSize, qkvSize) ?? qkv;
        if (_family.QkvBias)
        {
            var bias = _weights.Normal($"model.layers.{layer}.attn.qkv_proj.bias", [qkvSize], 0, 0.1f);
            qkv = _g.Add("Add", $"{prefix}/qkv_proj/Add", [qkv, bias]);
        }

        var attnName = $"{prefix}/GroupQueryAttention";
        var attnOut = $"{attnName}/output_0";
        _g.AddWithOutputs("GroupQueryAttention", attnName,
            [qkv, "", "", PastKey(layer), PastValue(layer), SeqLensK, TotalSeqLen, CosCache, SinCache],
            [attnOut, PresentKey(layer), PresentValue(layer)],
            OnnxGraphBuilder.MicrosoftDomain,
            OnnxAttribute.Of("num_heads", (long)s.Heads),
            OnnxAttribute.Of("kv_num_heads", (long)s.KvHeads),
            OnnxAttribute.Of("scale", 1f / MathF.Sqrt(s.HeadSize)),
            OnnxAttribute.Of("local_window_size", -1L),
            OnnxAttribute.Of("softcap", 0f),
            OnnxAttribute.Of("do_rotary", 1L),
            OnnxAttribute.Of("rotary_interleaved", 0L));

        var output = Linear($"{prefix}/o_proj/MatMul", $"model.layers.{layer}.attn.o_proj.MatMul", attnOut, s.QSize, s.HiddenSize, outStd / MathF.Sqrt(s.QSize));
        return _lora?.Add($"{prefix}/o_proj", LoraBranches.OutModule(layer), attnOut, output, s.QSize, s.HiddenSize) ?? output;
    }

    private string Mlp(int layer, string input, float outStd)
    {
        var s = _shape;
        var prefix = $"/model/layers.{layer}/mlp";
        var inStd = 1f / MathF.Sqrt(s.HiddenSize);
        var gate = Linear($"{prefix}/gate_proj/MatMul", $"model.layers.{layer}.mlp.gate_proj.MatMul", input, s.HiddenSize, s.IntermediateSize, inStd);
        var up = Linear($"{prefix}/up_proj/MatMul", $"model.layers.{layer}.mlp.up_proj.MatMul", input, s.HiddenSize, s.IntermediateSize, inStd);

        // SiLU as the builder writes it: x * Sigmoid(x).
        var sigmoid = _g.Add("Sigmoid", $"{prefix}/act_fn/Sigmoid", [gate]);
        var act = _g.Add("Mul", $"{prefix}/act_fn/Mul", [gate, sigmoid]);
        var mul = _g.Add("Mul", $"{prefix}/Mul", [act, up]);
        return Linear($"{prefix}/down_proj/MatMul", $"model.layers.{layer}.mlp.down_proj.MatMul", mul, s.IntermediateSize, s.HiddenSize, outStd / MathF.Sqrt(s.IntermediateSize));
    }

    /// <summary>[*, k] x [k, n]: MatMul with a float [k, n] weight, or 4-bit MatMulNBits (block 32, accuracy level 4 as the builder sets for CPU).</summary>
    private string Linear(string nodeName, string weightBase, string input, int k, int n, float std, string? output = null)
    {
        if (!_int4)
        {
            var weight = _weights.Normal(weightBase + ".weight", [k, n], 0, std);
            return AddNode("MatMul", nodeName, [input, weight], output, "");
        }

        var (b, scales) = _weights.Int4(weightBase, k, n, std);
        return AddNode("MatMulNBits", nodeName + "_Q4", [input, b, scales], output, OnnxGraphBuilder.MicrosoftDomain,
            OnnxAttribute.Of("K", (long)k),
            OnnxAttribute.Of("N", (long)n),
            OnnxAttribute.Of("bits", 4L),
            OnnxAttribute.Of("block_size", (long)WeightWriter.BlockSize),
            OnnxAttribute.Of("accuracy_level", 4L));
    }

    private string AddNode(string opType, string name, string[] inputs, string? output, string domain, params OnnxAttribute[] attributes)
    {
        if (output is null)
        {
            return _g.Add(opType, name, inputs, domain, 1, attributes);
        }

        _g.AddWithOutputs(opType, name, inputs, [output], domain, attributes);
        return output;
    }
}
