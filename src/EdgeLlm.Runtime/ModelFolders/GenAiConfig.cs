using System.Globalization;
using System.Text.Json;

namespace EdgeLlm.Runtime.ModelFolders;

/// <summary>
/// The parts of onnxruntime-genai's <c>genai_config.json</c> that this runtime uses.
/// Field names follow the file; see <see cref="GenAiConfig.Load"/>.
/// </summary>
public sealed record GenAiConfig
{
    public const string FileName = "genai_config.json";

    /// <summary><c>model.type</c>, e.g. qwen2, llama, phi3, gemma.</summary>
    public required string ModelType { get; init; }

    public required int ContextLength { get; init; }
    public required int VocabSize { get; init; }
    public int? BosTokenId { get; init; }
    public required IReadOnlyList<int> EosTokenIds { get; init; }
    public int? PadTokenId { get; init; }
    public required DecoderConfig Decoder { get; init; }
    public required SearchDefaults Search { get; init; }

    /// <summary>Reads and validates <c>genai_config.json</c> in <paramref name="folder"/>.</summary>
    /// <exception cref="ModelFolderException">The file is missing or a field is missing or malformed.</exception>
    public static GenAiConfig Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!System.IO.File.Exists(path))
        {
            throw new ModelFolderException(path, null,
                "file not found; a model folder needs genai_config.json as written by onnxruntime-genai's model builder or `edgellm model synth`");
        }

        string text;
        try
        {
            text = System.IO.File.ReadAllText(path);
        }
        catch (IOException ex)
        {
            throw new ModelFolderException(path, null, $"cannot be read: {ex.Message}", ex);
        }

        return Parse(text, path);
    }

    /// <summary>Parses the text of a <c>genai_config.json</c>; <paramref name="path"/> is used in error messages.</summary>
    public static GenAiConfig Parse(string json, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new ModelFolderException(path, null, $"is not valid JSON (line {ex.LineNumber + 1}): {ex.Message}", ex);
        }

        using (doc)
        {
            var r = new JsonFieldReader(path);
            var root = doc.RootElement;
            r.RequireKind(root, "", JsonValueKind.Object);
            var model = r.Object(root, "model");
            var decoder = r.Object(model, "model.decoder");
            var inputs = r.OptionalObject(decoder, "model.decoder.inputs");
            var outputs = r.OptionalObject(decoder, "model.decoder.outputs");

            var heads = r.PositiveInt(decoder, "model.decoder.num_attention_heads");
            var kvHeads = r.PositiveInt(decoder, "model.decoder.num_key_value_heads");
            if (heads % kvHeads != 0)
            {
                throw new ModelFolderException(path, "model.decoder.num_key_value_heads",
                    $"{kvHeads} does not divide num_attention_heads ({heads})");
            }

            var hidden = r.PositiveInt(decoder, "model.decoder.hidden_size");
            var headSize = r.OptionalPositiveInt(decoder, "model.decoder.head_size") ?? hidden / heads;

            var dec = new DecoderConfig
            {
                FileName = r.String(decoder, "model.decoder.filename"),
                HeadSize = headSize,
                HiddenSize = hidden,
                NumAttentionHeads = heads,
                NumKeyValueHeads = kvHeads,
                NumHiddenLayers = r.PositiveInt(decoder, "model.decoder.num_hidden_layers"),
                InputIdsName = r.OptionalString(inputs, "model.decoder.inputs.input_ids") ?? "input_ids",
                AttentionMaskName = r.OptionalString(inputs, "model.decoder.inputs.attention_mask") ?? "attention_mask",
                PositionIdsName = r.OptionalString(inputs, "model.decoder.inputs.position_ids") ?? "position_ids",
                PastKeyNamePattern = r.OptionalPattern(inputs, "model.decoder.inputs.past_key_names") ?? "past_key_values.%d.key",
                PastValueNamePattern = r.OptionalPattern(inputs, "model.decoder.inputs.past_value_names") ?? "past_key_values.%d.value",
                LogitsName = r.OptionalString(outputs, "model.decoder.outputs.logits") ?? "logits",
                PresentKeyNamePattern = r.OptionalPattern(outputs, "model.decoder.outputs.present_key_names") ?? "present.%d.key",
                PresentValueNamePattern = r.OptionalPattern(outputs, "model.decoder.outputs.present_value_names") ?? "present.%d.value",
                SessionOptions = ReadSessionOptions(r, decoder),
            };

            var search = r.OptionalObject(root, "search");
            var contextLength = r.PositiveInt(model, "model.context_length");
            var defaults = new SearchDefaults
            {
                MaxLength = r.OptionalPositiveInt(search, "search.max_length") ?? contextLength,
                DoSample = r.OptionalBool(search, "search.do_sample") ?? false,
                Temperature = r.OptionalDouble(search, "search.temperature", min: 0) ?? 1.0,
                TopK = r.OptionalInt(search, "search.top_k", min: 0) ?? 0,
                TopP = r.OptionalDouble(search, "search.top_p", min: 0, max: 1) ?? 1.0,
                RepetitionPenalty = r.OptionalDouble(search, "search.repetition_penalty", min: 0, exclusiveMin: true) ?? 1.0,
                PastPresentShareBuffer = r.OptionalBool(search, "search.past_present_share_buffer") ?? true,
            };

            var vocab = r.PositiveInt(model, "model.vocab_size");
            var eos = r.IntOrIntArray(model, "model.eos_token_id");
            foreach (var id in eos)
            {
                if (id < 0 || id >= vocab)
                {
                    throw new ModelFolderException(path, "model.eos_token_id", $"id {id} is outside the vocabulary (vocab_size {vocab})");
                }
            }

            return new GenAiConfig
            {
                ModelType = r.String(model, "model.type"),
                ContextLength = contextLength,
                VocabSize = vocab,
                BosTokenId = r.OptionalInt(model, "model.bos_token_id", min: 0),
                EosTokenIds = eos,
                PadTokenId = r.OptionalInt(model, "model.pad_token_id", min: 0),
                Decoder = dec,
                Search = defaults,
            };
        }
    }

    private static SessionConfig ReadSessionOptions(JsonFieldReader r, JsonElement decoder)
    {
        var so = r.OptionalObject(decoder, "model.decoder.session_options");
        var providers = new List<ProviderConfig>();
        if (so is { } s && s.TryGetProperty("provider_options", out var po))
        {
            r.RequireKind(po, "model.decoder.session_options.provider_options", JsonValueKind.Array);
            var i = 0;
            foreach (var entry in po.EnumerateArray())
            {
                var field = $"model.decoder.session_options.provider_options[{i}]";
                r.RequireKind(entry, field, JsonValueKind.Object);
                foreach (var provider in entry.EnumerateObject())
                {
                    r.RequireKind(provider.Value, $"{field}.{provider.Name}", JsonValueKind.Object);
                    var options = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var kv in provider.Value.EnumerateObject())
                    {
                        options[kv.Name] = kv.Value.ValueKind == JsonValueKind.String ? kv.Value.GetString()! : kv.Value.GetRawText();
                    }

                    providers.Add(new ProviderConfig(provider.Name, options));
                }

                i++;
            }
        }

        return new SessionConfig
        {
            IntraOpNumThreads = r.OptionalInt(so, "model.decoder.session_options.intra_op_num_threads", min: 0),
            InterOpNumThreads = r.OptionalInt(so, "model.decoder.session_options.inter_op_num_threads", min: 0),
            LogId = r.OptionalString(so, "model.decoder.session_options.log_id"),
            Providers = providers,
        };
    }
}

/// <summary><c>model.decoder</c> of <c>genai_config.json</c>.</summary>
public sealed record DecoderConfig
{
    public required string FileName { get; init; }
    public required int HeadSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required string InputIdsName { get; init; }
    public required string AttentionMaskName { get; init; }
    public required string PositionIdsName { get; init; }
    public required string PastKeyNamePattern { get; init; }
    public required string PastValueNamePattern { get; init; }
    public required string LogitsName { get; init; }
    public required string PresentKeyNamePattern { get; init; }
    public required string PresentValueNamePattern { get; init; }
    public required SessionConfig SessionOptions { get; init; }

    public string PastKeyName(int layer) => Expand(PastKeyNamePattern, layer);
    public string PastValueName(int layer) => Expand(PastValueNamePattern, layer);
    public string PresentKeyName(int layer) => Expand(PresentKeyNamePattern, layer);
    public string PresentValueName(int layer) => Expand(PresentValueNamePattern, layer);

    private static string Expand(string pattern, int layer) =>
        pattern.Replace("%d", layer.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
}

/// <summary><c>model.decoder.session_options</c>.</summary>
public sealed record SessionConfig
{
    public int? IntraOpNumThreads { get; init; }
    public int? InterOpNumThreads { get; init; }
    public string? LogId { get; init; }

    /// <summary>Providers named in <c>provider_options</c>, in order of preference.</summary>
    public IReadOnlyList<ProviderConfig> Providers { get; init; } = [];
}

/// <summary>One entry of <c>provider_options</c>: a provider name (cuda, qnn, …) and its string options.</summary>
public sealed record ProviderConfig(string Name, IReadOnlyDictionary<string, string> Options);

/// <summary>The <c>search</c> section: default generation options.</summary>
public sealed record SearchDefaults
{
    public required int MaxLength { get; init; }
    public bool DoSample { get; init; }
    public double Temperature { get; init; } = 1.0;
    public int TopK { get; init; }
    public double TopP { get; init; } = 1.0;
    public double RepetitionPenalty { get; init; } = 1.0;
    public bool PastPresentShareBuffer { get; init; } = true;
}
