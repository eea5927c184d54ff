using System.Text.Json;
using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.Onnx;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// Writes a random-weight decoder-only model in the folder layout of onnxruntime-genai's model builder:
/// <c>model.onnx</c> + <c>model.onnx.data</c>, <c>genai_config.json</c>, <c>tokenizer.json</c>,
/// <c>tokenizer_config.json</c>, plus <c>edgellm_synth.json</c> recording that the weights are random.
/// </summary>
internal static class ModelSynthesizer
{
    public const string ModelFile = "model.onnx";
    public const string DataFile = "model.onnx.data";
    public const string SynthInfoFile = "edgellm_synth.json";
    public const string GenAiConfigFile = "genai_config.json";

    private static readonly string[] FileNames =
    [
        ModelFile, DataFile, GenAiConfigFile, TokenizerSynthesizer.TokenizerFile, TokenizerSynthesizer.ConfigFile, SynthInfoFile,
    ];

    /// <summary>The decoder families: qwen2, llama, phi3.</summary>
    public static IReadOnlyList<string> Families { get; } = ModelFamily.All.Select(f => f.Name).ToArray();

    /// <summary>The shapes: tiny (for tests) and the dimensions of released models.</summary>
    public static IReadOnlyList<string> Shapes { get; } = ModelShape.All.Select(s => s.Name).ToArray();

    /// <summary>The weight formats: fp32 and int4.</summary>
    public static IReadOnlyList<string> Quants { get; } = ["fp32", "int4"];

    /// <summary>Writes the model folder described by <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">Unknown family, shape or quant (the message lists the valid values).</exception>
    public static SynthesisResult Synthesize(SynthesisOptions options, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var family = ModelFamily.All.FirstOrDefault(f => f.Name == options.Family)
            ?? throw Unknown("family", options.Family, Families);
        var shape = ModelShape.All.FirstOrDefault(s => s.Name == options.Shape)
            ?? throw Unknown("shape", options.Shape, Shapes);
        if (!Quants.Contains(options.Quant))
        {
            throw Unknown("quant", options.Quant, Quants);
        }

        var loraDefaults = AdapterSynthesizer.ReadDefaults(options, shape);
        if (string.IsNullOrWhiteSpace(options.OutputDirectory))
        {
            throw new ArgumentException("The output directory is empty; give the folder to write the model into.", nameof(options));
        }

        if (!BitConverter.IsLittleEndian)
        {
            // Tensors are written from memory as they are; ONNX requires little-endian raw data.
            throw new PlatformNotSupportedException("Model synthesis needs a little-endian machine.");
        }

        var folder = Path.GetFullPath(options.OutputDirectory);
        RefuseToReplaceARealModel(folder);

        // Everything is written to a staging folder beside the files and moved into place at the end,
        // so a failure or cancellation never leaves a half-written model under the final names.
        var staging = Path.Combine(folder, $".synth-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            var result = WriteAll(staging, family, shape, options, loraDefaults, progress, cancellationToken);
            var files = new List<string>();
            foreach (var name in FileNames)
            {
                var target = Path.Combine(folder, name);
                File.Move(Path.Combine(staging, name), target, overwrite: true);
                files.Add(target);
            }

            return result with { Files = files };
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private static SynthesisResult WriteAll(string folder, ModelFamily family, ModelShape shape, SynthesisOptions options,
        IReadOnlyDictionary<string, AdapterParameter>? loraDefaults, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        progress?.Report($"writing {family.Name} {shape.Name} {options.Quant} (seed {options.Seed})");
        OnnxGraph graph;
        long parameters, inlineBytes, dataBytes;
        using (var data = new ExternalDataWriter(Path.Combine(folder, DataFile), DataFile))
        {
            (graph, parameters, inlineBytes) = DecoderGraph.Build(shape, family, options.Quant == "int4", data, options.Seed, progress, cancellationToken,
                options.LoraRank > 0, loraDefaults);
            dataBytes = data.Length;
        }

        cancellationToken.ThrowIfCancellationRequested();
        var model = new OnnxModel
        {
            Opsets = [new OnnxOpset("", 21), new OnnxOpset(OnnxGraphBuilder.MicrosoftDomain, 1)],
            ProducerName = "edgellm model synth",
            ProducerVersion = typeof(ModelSynthesizer).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph,
        };
        OnnxProtoWriter.WriteFile(model, Path.Combine(folder, ModelFile));

        progress?.Report("tokenizer and configuration");
        TokenizerSynthesizer.Write(folder, family, shape.VocabSize, shape.ContextLength);
        WriteGenAiConfig(Path.Combine(folder, GenAiConfigFile), family, shape);
        WriteSynthInfo(Path.Combine(folder, SynthInfoFile), options, parameters);
        return new SynthesisResult(parameters, dataBytes + inlineBytes, []);
    }

    // Synthesizing over a downloaded model would destroy real weights with random ones.
    private static void RefuseToReplaceARealModel(string folder)
    {
        if (!Directory.Exists(folder) || File.Exists(Path.Combine(folder, SynthInfoFile)))
        {
            return;
        }

        foreach (var name in FileNames)
        {
            if (File.Exists(Path.Combine(folder, name)))
            {
                throw new IOException(
                    $"'{folder}' already holds {name} of a model that `edgellm model synth` did not write; choose an empty folder so real weights are not replaced.");
            }
        }
    }

    private static ArgumentException Unknown(string what, string value, IReadOnlyList<string> valid) =>
        new($"Unknown {what} '{value}'; valid values: {string.Join(", ", valid)}.", what);

    private static void WriteGenAiConfig(string path, ModelFamily family, ModelShape shape)
    {
        var ids = TokenizerSynthesizer.SpecialTokenIds(family, shape.VocabSize);
        JsonFile.Write(path, w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("model");
            w.WriteNumber("bos_token_id", ids[family.BosToken ?? family.PadToken]);
            w.WriteNumber("context_length", shape.ContextLength);
            w.WriteStartObject("decoder");
            w.WriteStartObject("session_options");
            w.WriteString("log_id", "onnxruntime-genai");
            w.WriteStartArray("provider_options");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteString("filename", ModelFile);
            w.WriteNumber("head_size", shape.HeadSize);
            w.WriteNumber("hidden_size", shape.HiddenSize);
            w.WriteStartObject("inputs");
            w.WriteString("input_ids", DecoderGraph.InputIds);
            w.WriteString("attention_mask", DecoderGraph.AttentionMask);
            w.WriteString("past_key_names", "past_key_values.%d.key");
            w.WriteString("past_value_names", "past_key_values.%d.value");
            w.WriteEndObject();
            w.WriteStartObject("outputs");
            w.WriteString("logits", DecoderGraph.Logits);
            w.WriteString("present_key_names", "present.%d.key");
            w.WriteString("present_value_names", "present.%d.value");
            w.WriteEndObject();
            w.WriteNumber("num_attention_heads", shape.Heads);
            w.WriteNumber("num_hidden_layers", shape.Layers);
            w.WriteNumber("num_key_value_heads", shape.KvHeads);
            w.WriteEndObject();
            w.WriteStartArray("eos_token_id");
            foreach (var eos in family.EosTokens)
            {
                w.WriteNumberValue(ids[eos]);
            }

            w.WriteEndArray();
            w.WriteNumber("pad_token_id", ids[family.PadToken]);
            w.WriteString("type", family.ModelType);
            w.WriteNumber("vocab_size", shape.VocabSize);
            w.WriteEndObject();

            // Greedy by default: a random model has nothing to gain from sampling, and greedy output is reproducible.
            w.WriteStartObject("search");
            w.WriteNumber("diversity_penalty", 0.0);
            w.WriteBoolean("do_sample", false);
            w.WriteBoolean("early_stopping", true);
            w.WriteNumber("length_penalty", 1.0);
            w.WriteNumber("max_length", shape.ContextLength);
            w.WriteNumber("min_length", 0);
            w.WriteNumber("no_repeat_ngram_size", 0);
            w.WriteNumber("num_beams", 1);
            w.WriteNumber("num_return_sequences", 1);
            w.WriteBoolean("past_present_share_buffer", true);
            w.WriteNumber("repetition_penalty", 1.0);
            w.WriteNumber("temperature", 1.0);
            w.WriteNumber("top_k", 1);
            w.WriteNumber("top_p", 1.0);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static void WriteSynthInfo(string path, SynthesisOptions options, long parameters)
    {
        JsonFile.Write(path, w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("synthesized", true);
            w.WriteString("family", options.Family);
            w.WriteString("shape", options.Shape);
            w.WriteString("quant", options.Quant);
            w.WriteNumber("seed", options.Seed);
            w.WriteNumber("parameters", parameters);
            if (options.LoraRank > 0)
            {
                w.WriteNumber(AdapterSynthesizer.LoraRankField, options.LoraRank);
            }

            w.WriteString("note", "Random weights written by `edgellm model synth`: for tests and benchmarks only; the output is meaningless text.");
            w.WriteEndObject();
        });
    }
}
