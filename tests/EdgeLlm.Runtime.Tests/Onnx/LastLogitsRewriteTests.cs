using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Onnx;
using EdgeLlm.Runtime.Providers;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests.Generation;
using Microsoft.Extensions.Logging.Abstractions;
using OnnxModel = EdgeLlm.Runtime.Generation.OnnxModel;

namespace EdgeLlm.Runtime.Tests.Onnx;

public sealed class LastLogitsRewriteTests
{
    private static readonly int[] Prompt = [1, 17, 42, 99, 5, 300, 7, 640, 12, 3, 88, 250, 31];

    private static RuntimeOptions Options(bool lastOnly, int chunk = 0, string? cache = null) => new()
    {
        IntraOpNumThreads = 1,
        ProviderPolicy = ProviderPolicy.CpuOnly,
        LastPositionLogitsOnly = lastOnly,
        PrefillChunkTokens = chunk,
        PrefixCacheBytes = 0,
        GraphCacheDirectory = cache,
    };

    private static string Synthesize(TempDir dir, string quant)
    {
        var folder = Path.Combine(dir.Path, quant);
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", quant, folder, Seed: 11));
        return folder;
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("int4")]
    public void Rewritten_graph_gives_the_original_last_position_logits(string quant)
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, quant);
        using var original = OnnxModel.Load(folder, Options(lastOnly: false));
        using var rewritten = OnnxModel.Load(folder, Options(lastOnly: true));

        Assert.False(original.Signature.LastPositionLogitsOnly);
        Assert.Null(original.Graph.RewrittenPath);
        Assert.True(rewritten.Signature.LastPositionLogitsOnly, rewritten.Graph.Reason);
        Assert.StartsWith(Path.Combine(folder, LastLogitsGraph.CacheFolderName), rewritten.Graph.RewrittenPath, StringComparison.Ordinal);

        // A whole prompt, then a multi-token continuation and a decode step on the same sequences.
        using var a = original.CreateSequence(Prompt.Length + 4);
        using var b = rewritten.CreateSequence(Prompt.Length + 4);
        AssertClose(a.Append(Prompt).ToArray(), b.Append(Prompt).ToArray());
        AssertClose(a.Append([5, 6, 7]).ToArray(), b.Append([5, 6, 7]).ToArray());
        AssertClose(a.Append([9]).ToArray(), b.Append([9]).ToArray());
    }

    [Fact]
    public void Second_load_reuses_the_cached_graph()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "int4");
        using (var first = OnnxModel.Load(folder, Options(lastOnly: true)))
        {
            Assert.True(first.Graph.Written, first.Graph.Reason);
        }

        var cached = Assert.Single(Directory.GetFiles(Path.Combine(folder, LastLogitsGraph.CacheFolderName)));
        var written = File.GetLastWriteTimeUtc(cached);
        using var second = OnnxModel.Load(folder, Options(lastOnly: true));
        Assert.False(second.Graph.Written);
        Assert.Equal(cached, second.Graph.RewrittenPath);
        Assert.Equal(written, File.GetLastWriteTimeUtc(cached));
        Assert.True(second.Signature.LastPositionLogitsOnly);
    }

    [Fact]
    public void A_changed_model_file_gets_a_new_rewrite_and_the_old_one_is_removed()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "fp32");
        string first;
        using (var model = OnnxModel.Load(folder, Options(lastOnly: true)))
        {
            first = model.Graph.RewrittenPath!;
        }

        // Same graph, another producer_version (ModelProto field 3): a different file, so a different hash.
        var path = Path.Combine(folder, "model.onnx");
        var edited = OnnxProtoReader.ReadFile(path);
        edited.Model.Fields.Add(ProtoField.String(3, "edited"));
        File.WriteAllBytes(path, edited.ToBytes());
        using var reloaded = OnnxModel.Load(folder, Options(lastOnly: true));

        Assert.True(reloaded.Graph.Written);
        Assert.NotEqual(first, reloaded.Graph.RewrittenPath);
        Assert.Equal(reloaded.Graph.RewrittenPath, Assert.Single(Directory.GetFiles(Path.GetDirectoryName(first)!)));
    }

    [Fact]
    public void A_model_folder_that_cannot_hold_the_cache_uses_the_fallback_directory()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "fp32");

        // A file where the cache folder would go makes the model folder unusable for the cache, as a read-only one would.
        File.WriteAllText(Path.Combine(folder, LastLogitsGraph.CacheFolderName), "");
        var fallback = Path.Combine(dir.Path, "data", "graphs");
        using var model = OnnxModel.Load(folder, Options(lastOnly: true, cache: fallback));

        Assert.Equal(fallback, Path.GetDirectoryName(model.Graph.RewrittenPath));
        Assert.True(model.Signature.LastPositionLogitsOnly);
        using var sequence = model.CreateSequence(Prompt.Length);
        Assert.Equal(model.Config.VocabSize, sequence.Append(Prompt).Length);
    }

    [Fact]
    public void A_folder_of_links_to_a_model_elsewhere_runs_the_rewritten_graph()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "int4");
        var links = Path.Combine(dir.Path, "links");
        Directory.CreateDirectory(links);
        foreach (var file in Directory.GetFiles(folder))
        {
            File.CreateSymbolicLink(Path.Combine(links, Path.GetFileName(file)), file);
        }

        using var original = OnnxModel.Load(folder, Options(lastOnly: false));
        using var linked = OnnxModel.Load(links, Options(lastOnly: true));
        Assert.True(linked.Signature.LastPositionLogitsOnly, linked.Graph.Reason);
        Assert.StartsWith(Path.Combine(links, LastLogitsGraph.CacheFolderName), linked.Graph.RewrittenPath, StringComparison.Ordinal);
        using var a = original.CreateSequence(Prompt.Length);
        using var b = linked.CreateSequence(Prompt.Length);
        AssertClose(a.Append(Prompt).ToArray(), b.Append(Prompt).ToArray());
    }

    [Fact]
    public async Task Chunked_prefill_on_the_rewritten_graph_matches_the_original()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "fp32");
        using var original = OnnxModel.Load(folder, Options(lastOnly: false));
        using var rewritten = OnnxModel.Load(folder, Options(lastOnly: true, chunk: 4));
        var expected = await Greedy(original);
        var actual = await Greedy(rewritten);
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            AssertClose(expected[i], actual[i]);
        }
    }

    [Fact]
    public void Reading_and_writing_back_an_unchanged_model_gives_the_same_bytes()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "int4");
        var path = Path.Combine(folder, "model.onnx");
        var model = OnnxProtoReader.ReadFile(path);

        Assert.Equal(File.ReadAllBytes(path), model.ToBytes());
        Assert.Contains(model.Nodes, n => n.OpType == "MatMulNBits" && n.Outputs.SequenceEqual(["logits"]));
        var external = model.Initializers.Values.Where(t => t.External is not null).ToArray();
        Assert.NotEmpty(external);
        Assert.All(external, t =>
        {
            Assert.Equal("model.onnx.data", t.External!.Location);
            Assert.Equal(0, t.External.Offset % ExternalDataWriter.Alignment);
        });
        Assert.True(model.DefaultOpset >= 11);
    }

    [Fact]
    public void Rewrite_keeps_external_data_references_and_leaves_a_rewritten_graph_alone()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "int4");
        var model = OnnxProtoReader.ReadFile(Path.Combine(folder, "model.onnx"));
        var before = model.Initializers.Values.Where(t => t.External is not null).ToDictionary(t => t.Name, t => t.External);

        Assert.True(LastLogitsRewrite.TryRewrite(model, "logits", out var reason), reason);
        var reread = OnnxProtoReader.Read(model.ToBytes(), "rewritten");
        foreach (var (name, external) in before)
        {
            Assert.Equal(external, reread.Initializers[name].External);
        }

        var gather = Assert.Single(reread.Nodes, n => n.Name == LastLogitsRewrite.GatherNodeName);
        var lmHead = Assert.Single(reread.Nodes, n => n.Outputs.SequenceEqual(["logits"]));
        Assert.Equal(gather.Outputs[0], lmHead.Inputs[0]);

        var bytes = reread.ToBytes();
        Assert.False(LastLogitsRewrite.TryRewrite(reread, "logits", out reason));
        Assert.Equal(bytes, reread.ToBytes());
    }

    [Fact]
    public void A_folder_whose_graph_is_already_pruned_is_loaded_as_it_is()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Synthesize(dir, "fp32");
        var model = OnnxProtoReader.ReadFile(Path.Combine(folder, "model.onnx"));
        Assert.True(LastLogitsRewrite.TryRewrite(model, "logits", out var reason), reason);
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), model.ToBytes());

        using var pruned = OnnxModel.Load(folder, Options(lastOnly: true));
        Assert.Null(pruned.Graph.RewrittenPath);
        Assert.Contains("already rewritten", pruned.Graph.Reason, StringComparison.Ordinal);
        Assert.True(pruned.Signature.LastPositionLogitsOnly);
        Assert.False(Directory.Exists(Path.Combine(folder, LastLogitsGraph.CacheFolderName)));
        using var sequence = pruned.CreateSequence(Prompt.Length);
        Assert.Equal(pruned.Config.VocabSize, sequence.Append(Prompt).Length);
    }

    [Fact]
    public void A_graph_without_a_final_norm_before_the_lm_head_is_left_alone()
    {
        var g = new OnnxGraphBuilder();
        g.AddInput(new OnnxValueInfo("hidden", OnnxDataType.Float, ["batch_size", "sequence_length", 4]));
        g.AddOutput(new OnnxValueInfo("logits", OnnxDataType.Float, ["batch_size", "sequence_length", 3]));
        g.AddInitializer(new OnnxTensor { Name = "w", DataType = OnnxDataType.Float, Dims = [4, 3], RawData = new byte[48] });
        g.AddWithOutputs("MatMul", "lm_head", ["hidden", "w"], ["logits"]);
        var bytes = OnnxProtoWriter.ToBytes(new EdgeLlm.Runtime.Onnx.OnnxModel { Opsets = [new OnnxOpset("", 21)], Graph = g.Build("g") });
        var model = OnnxProtoReader.Read(bytes, "plain.onnx");

        Assert.False(LastLogitsRewrite.TryRewrite(model, "logits", out var reason));
        Assert.Contains("not a final norm", reason, StringComparison.Ordinal);
        Assert.Equal(bytes, model.ToBytes());
        Assert.False(LastLogitsRewrite.TryRewrite(model, "scores", out reason));
        Assert.Contains("no output 'scores'", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_onnx_is_reported_by_name_and_loaded_without_the_rewrite()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir.Path, "broken.onnx");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);

        var error = Assert.Throws<InvalidDataException>(() => OnnxProtoReader.ReadFile(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        var prepared = LastLogitsGraph.Prepare(path, "logits", null, NullLogger.Instance);
        Assert.Null(prepared.RewrittenPath);
        Assert.Contains("is not an ONNX model", prepared.Reason, StringComparison.Ordinal);
    }

    private static async Task<List<float[]>> Greedy(OnnxModel model)
    {
        var logits = new List<float[]>();
        var options = new GenerationOptions { MaxNewTokens = 5, DoSample = false, StopTokenIds = [], LogitsObserver = (_, row) => logits.Add(row.ToArray()) };
        await foreach (var token in new Generator(model).GenerateAsync(Prompt, options))
        {
            Assert.True(token.HasToken);
        }

        return logits;
    }

    private static void AssertClose(float[] expected, float[] actual) => LogitsAssert.Close(expected, actual, 1e-5f, "last position");
}
