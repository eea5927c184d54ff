using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.Runtime.Tests.Synthesis;

public sealed class ModelSynthesizerTests
{
    private static readonly long[] Prompt = [5, 17, 300, 42, 999, 7];
    private static readonly long[] NextToken = [123];

    public static TheoryData<string, string> FamiliesAndQuants()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in ModelSynthesizer.Families)
        {
            data.Add(family, "fp32");
            data.Add(family, "int4");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FamiliesAndQuants))]
    public void Tiny_model_prefills_and_decodes_with_finite_varied_logits_in_both_cache_modes(string family, string quant)
    {
        using var dir = TestPaths.NewTempDir();
        ModelSynthesizer.Synthesize(new SynthesisOptions(family, "tiny", quant, dir.Path, Seed: 1));
        using var harness = new DecoderHarness(dir.Path);
        var vocab = harness.Config.VocabSize;

        var growing = harness.RunGrowing(Prompt, NextToken);
        Assert.Equal(Prompt.Length * vocab, growing[0].Length);
        Assert.Equal(vocab, growing[1].Length);
        foreach (var logits in growing)
        {
            Assert.All(logits, v => Assert.True(float.IsFinite(v)));
            Assert.True(StdDev(logits) > 0.1, $"logits barely vary (std {StdDev(logits)})");
        }

        // Each position sees a different prefix, so rows must differ.
        Assert.NotEqual(growing[0].AsSpan(0, vocab).ToArray(), growing[0].AsSpan(vocab, vocab).ToArray());

        var shared = harness.RunShared(harness.Config.Search.MaxLength, Prompt, NextToken);
        for (var s = 0; s < growing.Length; s++)
        {
            Assert.Equal(growing[s].Length, shared[s].Length);
            var maxDiff = growing[s].Zip(shared[s], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDiff <= 1e-4, $"step {s}: shared-buffer logits differ from growing-cache logits by {maxDiff}");
        }
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("int4")]
    public void Cached_decoding_and_chunked_prefill_match_a_full_recompute_in_both_cache_modes(string quant)
    {
        using var dir = TestPaths.NewTempDir();
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", quant, dir.Path, Seed: 3));
        using var harness = new DecoderHarness(dir.Path);
        var vocab = harness.Config.VocabSize;
        long[] all = [.. Prompt, .. NextToken, 77, 650];
        var full = harness.RunGrowing(all)[0];

        // Prompt in two chunks, then single tokens: every step's last row must equal the full pass at that position.
        long[][] steps = [Prompt[..4], Prompt[4..], NextToken, [77], [650]];
        foreach (var run in new[] { harness.RunGrowing(steps), harness.RunShared(64, steps) })
        {
            var position = 0;
            for (var s = 0; s < steps.Length; s++)
            {
                position += steps[s].Length;
                var last = run[s].AsSpan((steps[s].Length - 1) * vocab, vocab).ToArray();
                var expected = full.AsSpan((position - 1) * vocab, vocab).ToArray();
                var maxDiff = last.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(maxDiff <= 1e-4, $"step {s}: cached logits differ from the full recompute by {maxDiff}");
            }
        }
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama")]
    [InlineData("phi3")]
    public void Genai_config_loads_and_matches_the_shape(string family)
    {
        using var dir = TestPaths.NewTempDir();
        ModelSynthesizer.Synthesize(new SynthesisOptions(family, "tiny", "int4", dir.Path, Seed: 1));

        var config = GenAiConfig.Load(dir.Path);
        var shape = ModelShape.All.Single(s => s.Name == "tiny");
        Assert.Equal(family, config.ModelType);
        Assert.Equal(shape.VocabSize, config.VocabSize);
        Assert.Equal(shape.ContextLength, config.ContextLength);
        Assert.Equal(shape.ContextLength, config.Search.MaxLength);
        Assert.True(config.Search.PastPresentShareBuffer);
        Assert.Equal("model.onnx", config.Decoder.FileName);
        Assert.Equal(shape.HiddenSize, config.Decoder.HiddenSize);
        Assert.Equal(shape.HeadSize, config.Decoder.HeadSize);
        Assert.Equal(shape.Heads, config.Decoder.NumAttentionHeads);
        Assert.Equal(shape.KvHeads, config.Decoder.NumKeyValueHeads);
        Assert.Equal(shape.Layers, config.Decoder.NumHiddenLayers);
        Assert.Equal("past_key_values.1.key", config.Decoder.PastKeyName(1));
        Assert.Equal("present.0.value", config.Decoder.PresentValueName(0));
        Assert.NotEmpty(config.EosTokenIds);
    }

    [Fact]
    public void Same_seed_writes_identical_files_and_another_seed_different_weights()
    {
        using var a = TestPaths.NewTempDir();
        using var b = TestPaths.NewTempDir();
        using var c = TestPaths.NewTempDir();
        var first = ModelSynthesizer.Synthesize(new SynthesisOptions("llama", "tiny", "int4", a.Path, Seed: 7));
        ModelSynthesizer.Synthesize(new SynthesisOptions("llama", "tiny", "int4", b.Path, Seed: 7));
        ModelSynthesizer.Synthesize(new SynthesisOptions("llama", "tiny", "int4", c.Path, Seed: 8));

        foreach (var file in first.Files)
        {
            var name = Path.GetFileName(file);
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b.Path, name))), $"{name} differs for the same seed");
        }

        Assert.False(File.ReadAllBytes(Path.Combine(a.Path, ModelSynthesizer.DataFile)).AsSpan()
            .SequenceEqual(File.ReadAllBytes(Path.Combine(c.Path, ModelSynthesizer.DataFile))));
    }

    [Theory]
    [InlineData("qwen2", "<|im_end|>")]
    [InlineData("llama", "<|eot_id|>")]
    [InlineData("phi3", "<|end|>")]
    public void Tokenizer_vocabulary_covers_every_id_and_names_the_special_tokens(string family, string eosToken)
    {
        using var dir = TestPaths.NewTempDir();
        ModelSynthesizer.Synthesize(new SynthesisOptions(family, "tiny", "fp32", dir.Path, Seed: 1));
        var config = GenAiConfig.Load(dir.Path);

        using var tokenizer = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "tokenizer.json")));
        var ids = new HashSet<int>();
        foreach (var entry in tokenizer.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject())
        {
            Assert.True(ids.Add(entry.Value.GetInt32()), $"id {entry.Value} appears twice");
        }

        var added = tokenizer.RootElement.GetProperty("added_tokens").EnumerateArray()
            .ToDictionary(t => t.GetProperty("content").GetString()!, t => t.GetProperty("id").GetInt32());
        foreach (var id in added.Values)
        {
            Assert.True(ids.Add(id), $"special id {id} is also a vocabulary id");
        }

        Assert.Equal(Enumerable.Range(0, config.VocabSize), ids.Order());
        Assert.Contains(added[eosToken], config.EosTokenIds);

        // Every merge joins two vocabulary tokens into a third.
        var vocab = tokenizer.RootElement.GetProperty("model").GetProperty("vocab");
        foreach (var merge in tokenizer.RootElement.GetProperty("model").GetProperty("merges").EnumerateArray())
        {
            var parts = merge.GetString()!.Split(' ');
            Assert.Equal(2, parts.Length);
            Assert.True(vocab.TryGetProperty(parts[0], out _) && vocab.TryGetProperty(parts[1], out _) && vocab.TryGetProperty(parts[0] + parts[1], out _), merge.GetString());
        }

        using var tokenizerConfig = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "tokenizer_config.json")));
        Assert.Contains(eosToken, tokenizerConfig.RootElement.GetProperty("chat_template").GetString(), StringComparison.Ordinal);
        Assert.Equal(added.Count, tokenizerConfig.RootElement.GetProperty("added_tokens_decoder").EnumerateObject().Count());
    }

    [Fact]
    public void Synth_info_marks_the_model_as_random()
    {
        using var dir = TestPaths.NewTempDir();
        var result = ModelSynthesizer.Synthesize(new SynthesisOptions("phi3", "tiny", "int4", dir.Path, Seed: 5));

        using var info = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, ModelSynthesizer.SynthInfoFile)));
        Assert.True(info.RootElement.GetProperty("synthesized").GetBoolean());
        Assert.Equal("tiny", info.RootElement.GetProperty("shape").GetString());
        Assert.Equal(5, info.RootElement.GetProperty("seed").GetInt32());
        Assert.Equal(result.Parameters, info.RootElement.GetProperty("parameters").GetInt64());
        Assert.True(result.Parameters > 0);
        Assert.Equal(new FileInfo(Path.Combine(dir.Path, ModelSynthesizer.DataFile)).Length, result.WeightBytes, tolerance: 64 * 1024);
    }

    [Fact]
    public void Every_shape_has_consistent_dimensions()
    {
        foreach (var s in ModelShape.All)
        {
            Assert.True(s.Heads % s.KvHeads == 0, $"{s.Name}: heads {s.Heads} not a multiple of kv heads {s.KvHeads}");
            Assert.True(s.HeadSize % 16 == 0, $"{s.Name}: head size {s.HeadSize}");
            foreach (var k in new[] { s.HiddenSize, s.IntermediateSize, s.QSize })
            {
                Assert.True(k % WeightWriter.BlockSize == 0, $"{s.Name}: K={k} does not fill whole int4 blocks");
            }
        }
    }

    [Fact]
    public void A_real_shape_runs_in_onnx_runtime()
    {
        // SmolLM2-360M (about 300 MB in int4) has an odd head grouping (15 heads, 5 KV heads).
        using var dir = TestPaths.NewTempDir();
        ModelSynthesizer.Synthesize(new SynthesisOptions("llama", "smollm2-360m", "int4", dir.Path, Seed: 1));
        using var harness = new DecoderHarness(dir.Path);
        Assert.Equal(49152, harness.Config.VocabSize);

        var logits = harness.RunShared(16, Prompt, NextToken);
        Assert.All(logits[1], v => Assert.True(float.IsFinite(v)));
        Assert.True(StdDev(logits[1]) > 0.1);
    }

    [Theory]
    [InlineData("qwen2", "fp32")]
    [InlineData("llama", "int4")]
    public void Parameter_count_covers_every_weight_of_the_architecture(string family, string quant)
    {
        using var dir = TestPaths.NewTempDir();
        var result = ModelSynthesizer.Synthesize(new SynthesisOptions(family, "tiny", quant, dir.Path, Seed: 1));

        var s = ModelShape.All.Single(x => x.Name == "tiny");
        long h = s.HiddenSize, qkv = s.QSize + (2 * s.KvSize);
        var perLayer = (2 * h) + (h * qkv) + (family == "qwen2" ? qkv : 0) + (s.QSize * h) + (3 * h * s.IntermediateSize);
        var expected = (s.VocabSize * h) + (s.Layers * perLayer) + h + (h * s.VocabSize);
        Assert.Equal(expected, result.Parameters);
        Assert.Equal(6, result.Files.Count);
        Assert.All(result.Files, f => Assert.True(File.Exists(f), f));
        Assert.Empty(Directory.GetDirectories(dir.Path));
    }

    [Fact]
    public void Cancelled_synthesis_leaves_no_files_behind()
    {
        using var dir = TestPaths.NewTempDir();
        using var cts = new CancellationTokenSource();
        var progress = new SynchronousProgress(message =>
        {
            if (message.StartsWith("layer 2", StringComparison.Ordinal))
            {
                cts.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() =>
            ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", dir.Path, Seed: 1), progress, cts.Token));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public void A_folder_holding_a_model_that_was_not_synthesized_is_not_overwritten()
    {
        using var dir = TestPaths.NewTempDir();
        var real = Path.Combine(dir.Path, "model.onnx");
        File.WriteAllText(real, "real weights");

        var ex = Assert.Throws<IOException>(() => ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "fp32", dir.Path, Seed: 1)));
        Assert.Contains("model.onnx", ex.Message, StringComparison.Ordinal);
        Assert.Equal("real weights", File.ReadAllText(real));
    }

    [Fact]
    public void A_synthesized_folder_can_be_synthesized_again()
    {
        using var dir = TestPaths.NewTempDir();
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "fp32", dir.Path, Seed: 1));
        var again = ModelSynthesizer.Synthesize(new SynthesisOptions("phi3", "tiny", "int4", dir.Path, Seed: 2));

        Assert.Equal("phi3", GenAiConfig.Load(dir.Path).ModelType);
        Assert.Equal(again.Files.Order(), Directory.GetFiles(dir.Path).Order());
    }

    [Theory]
    [InlineData("mistral", "tiny", "fp32", "family", "qwen2, llama, phi3")]
    [InlineData("qwen2", "huge", "fp32", "shape", "tiny, qwen2.5-0.5b")]
    [InlineData("qwen2", "tiny", "int8", "quant", "fp32, int4")]
    public void Unknown_option_is_refused_with_the_valid_values(string family, string shape, string quant, string parameter, string listed)
    {
        using var dir = TestPaths.NewTempDir();
        var ex = Assert.Throws<ArgumentException>(() => ModelSynthesizer.Synthesize(new SynthesisOptions(family, shape, quant, dir.Path, 1)));
        Assert.Equal(parameter, ex.ParamName);
        Assert.Contains(listed, ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    private static double StdDev(float[] values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
    }

    // Progress<T> posts to the thread pool; the cancellation test needs the callback before the next layer.
    private sealed class SynchronousProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
