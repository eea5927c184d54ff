using System.Text.Json;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Cli.Tests;

/// <summary>The commands scripts rely on, through the real executable: output shapes, parity, errors.</summary>
public sealed class CommandTests : IClassFixture<TinyModelFixture>
{
    private readonly TinyModelFixture _model;

    public CommandTests(TinyModelFixture model) => _model = model;

    [Fact]
    public async Task Tokenize_RealQwen3Tokenizer_MatchesHuggingFaceIds()
    {
        using var reference = JsonDocument.Parse(File.ReadAllText(TestPaths.Reference("tokenizers", "qwen3.json")));
        var checkedCases = 0;
        foreach (var c in reference.RootElement.GetProperty("cases").EnumerateArray().Where((_, i) => i % 97 == 5).Take(5))
        {
            var text = c.GetProperty("text").GetString()!;
            var result = await Cli.RunAsync("tokenize", "--model", TestPaths.RealTokenizer("qwen3"), "--text", text, "--json");
            var ids = result.Json().GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(), ids);
            checkedCases++;
        }

        Assert.Equal(5, checkedCases);
    }

    [Fact]
    public async Task Tokenize_NoSpecialTokens_LeavesOutLlama2Bos()
    {
        var dir = TestPaths.RealTokenizer("llama2");
        var with = (await Cli.RunAsync("tokenize", "--model", dir, "--text", "Hi", "--json")).Json().GetProperty("ids");
        var without = (await Cli.RunAsync("tokenize", "--model", dir, "--text", "Hi", "--no-special-tokens", "--json")).Json().GetProperty("ids");
        Assert.Equal(without.GetArrayLength() + 1, with.GetArrayLength());
        Assert.Equal(1, with[0].GetInt32());
    }

    [Fact]
    public async Task Template_RendersConversationAsJsonText()
    {
        using var dir = TestPaths.NewTempDir();
        var messages = Path.Combine(dir.Path, "m.json");
        File.WriteAllText(messages, """[{"role":"system","content":"Be brief."},{"role":"user","content":"Belt tension?"}]""");
        var text = (await Cli.RunAsync("template", "--model", _model.Folder, "--messages", messages, "--add-generation-prompt", "--json"))
            .Json().GetProperty("text").GetString();
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nBelt tension?<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public async Task Generate_Greedy_IsDeterministicAndReturnsOnlyGeneratedIds()
    {
        var a = (await Cli.RunAsync("generate", "--model", _model.Folder, "--prompt", "Check the belt", "--max-tokens", "12", "--greedy", "--json")).Json();
        var b = (await Cli.RunAsync("generate", "--model", _model.Folder, "--prompt", "Check the belt", "--max-tokens", "12", "--greedy", "--json")).Json();
        Assert.Equal(a.GetProperty("ids").ToString(), b.GetProperty("ids").ToString());
        Assert.Equal(a.GetProperty("text").GetString(), b.GetProperty("text").GetString());
        var ids = a.GetProperty("ids").GetArrayLength();
        Assert.InRange(ids, 1, 12);
        Assert.Equal(ids == 12 ? "length" : "stop", a.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Detokenize_InvertsTokenize()
    {
        var ids = (await Cli.RunAsync("tokenize", "--model", _model.Folder, "--text", "Replace the fuse F3", "--no-special-tokens", "--json")).Json().GetProperty("ids");
        var text = (await Cli.RunAsync("detokenize", "--model", _model.Folder, "--ids", string.Join(',', ids.EnumerateArray()), "--json")).Json().GetProperty("text").GetString();
        Assert.Equal("Replace the fuse F3", text);
    }

    [Fact]
    public async Task ModelInfo_Json_ReportsShapeAndSynthesizedMarker()
    {
        var info = (await Cli.RunAsync("model", "info", "--model", _model.Folder, "--json")).Json();
        Assert.True(info.GetProperty("synthesized").GetBoolean());
        Assert.Equal("qwen2", info.GetProperty("model_type").GetString());
        Assert.True(info.GetProperty("files").TryGetProperty("model.onnx", out _));
    }

    [Fact]
    public async Task MissingModelFolder_FailsWithFileNameOnStderr()
    {
        using var dir = TestPaths.NewTempDir();
        var result = await Cli.RunAsync("generate", "--model", dir.Path, "--prompt", "x");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("tokenizer.json", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task ErrorWithJson_IsJsonOnStderr()
    {
        var result = await Cli.RunAsync("detokenize", "--model", _model.Folder, "--ids", "1,x,3", "--json");
        Assert.Equal(1, result.ExitCode);
        using var doc = JsonDocument.Parse(result.Stderr);
        Assert.Contains("'x'", doc.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GreedyWithTemperature_IsRefused()
    {
        var result = await Cli.RunAsync("generate", "--model", _model.Folder, "--prompt", "x", "--greedy", "--temperature", "0.7");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--greedy", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownProvider_IsRefusedWithTheChoices()
    {
        var result = await Cli.RunAsync("generate", "--model", _model.Folder, "--prompt", "x", "--provider", "tpu");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("prefer-gpu", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingPluginLibrary_FallsBackToCpuAndStillAnswers()
    {
        var result = await Cli.RunAsync("generate", "--model", _model.Folder, "--prompt", "x", "--max-tokens", "3", "--greedy",
            "--provider", "prefer-npu", "--ep-library", "QNNExecutionProvider=/nonexistent/libqnn_plugin.so", "--json");
        var json = result.Json();
        Assert.Equal("CPUExecutionProvider", json.GetProperty("model").GetProperty("provider").GetString());
        Assert.Contains("libqnn_plugin.so", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Adapter_SynthesizedLoraModel_ChangesGreedyOutputAndUnknownNameIsRefused()
    {
        using var dir = TestPaths.NewTempDir();
        var folder = Path.Combine(dir.Path, "lora");
        Assert.Equal(0, (await Cli.RunAsync("model", "synth", "--family", "qwen2", "--shape", "tiny", "--quant", "fp32", "--lora-rank", "4", "--out", folder)).ExitCode);
        Assert.Equal(0, (await Cli.RunAsync("model", "synth-adapter", "--model", folder, "--name", "pumps", "--seed", "5")).ExitCode);
        Assert.True(File.Exists(Path.Combine(folder, "adapters", "pumps.onnx_adapter")));

        string[] ask = ["generate", "--model", folder, "--prompt", "Check the pump seal", "--max-tokens", "12", "--greedy", "--json"];
        var plain = (await Cli.RunAsync(ask)).Json().GetProperty("ids").ToString();
        var adapted = (await Cli.RunAsync([.. ask, "--adapter", "pumps"])).Json().GetProperty("ids").ToString();
        Assert.NotEqual(plain, adapted);

        var unknown = await Cli.RunAsync([.. ask, "--adapter", "valves"]);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("pumps", unknown.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_Json_ReportsEveryFigure()
    {
        var json = (await Cli.RunAsync("bench", "--model", _model.Folder, "--prompt-tokens", "32", "--gen-tokens", "8", "--runs", "1", "--threads", "1", "--json")).Json();
        foreach (var field in new[] { "prefill_tokens_per_second", "decode_tokens_per_second", "time_to_first_token_ms", "allocated_bytes_per_token", "decode_time_outside_run_share" })
        {
            Assert.True(json.GetProperty(field).GetDouble() >= 0, field);
        }

        Assert.True(json.GetProperty("peak_rss_bytes").GetInt64() > 0);
        Assert.Equal(3, json.GetProperty("targets").EnumerateObject().Count());
    }
}

/// <summary>One tiny synthesized qwen2 model shared by the command tests.</summary>
public sealed class TinyModelFixture : IAsyncLifetime
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public string Folder => Path.Combine(_dir.Path, "tiny-qwen2");

    public async Task InitializeAsync()
    {
        var result = await Cli.RunAsync("model", "synth", "--family", "qwen2", "--shape", "tiny", "--quant", "int4", "--seed", "3", "--out", Folder);
        Assert.True(result.ExitCode == 0, result.Stderr);
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }
}
