using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests;

/// <summary>The query pipeline and model selection on a real tiny synthesized model.</summary>
public sealed class PipelineTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    private string Synthesize(string relative)
    {
        var folder = Path.Combine(_dir.Path, relative);
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", folder, 1));
        return folder;
    }

    private static async Task<ActiveModel> LoadAsync(AgentOptions options)
    {
        var active = new ActiveModel(Options.Create(options), NullLogger<ActiveModel>.Instance);
        await active.StartingAsync(CancellationToken.None);
        return active;
    }

    private static QueryPipeline Pipeline(ActiveModel active, AgentOptions options, params IContextSource[] sources) =>
        new(active, sources, Options.Create(options), TimeProvider.System);

    private static QueryContext Query(string question, string mode = AskModes.Auto, int? maxTokens = null) =>
        new() { RequestId = "t", Question = question, Mode = mode, MaxTokens = maxTokens, Temperature = 0 };

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Cancelling_stops_generation_between_tokens()
    {
        var options = new AgentOptions { DataDir = _dir.Path, Model = Synthesize("m"), MaxTokens = 200 };
        using var active = await LoadAsync(options);
        var pipeline = Pipeline(active, options);
        using var cts = new CancellationTokenSource();
        var chunks = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in pipeline.RunAsync(Query("Tell me everything", maxTokens: 200), cts.Token))
            {
                chunks++;
                await cts.CancelAsync();
            }
        });
        Assert.Equal(1, chunks);
        Assert.Equal(0, active.Model!.Scheduler.Running);
    }

    [Fact]
    public async Task Prompt_carries_the_grounding_system_prompt_the_passages_and_the_history()
    {
        var options = new AgentOptions { DataDir = _dir.Path, Model = Synthesize("m") };
        using var active = await LoadAsync(options);
        var pipeline = Pipeline(active, options);
        var context = new ContextContribution(["[1] manual.md: Torque the bolts to 40 Nm."], [new Citation { Source = "manual.md" }], [new SensorUse { Id = "t1", Value = 71.5, Unit = "C" }]);
        var query = Query("How tight?") with { History = [new HistoryTurn { Role = "user", Content = "Earlier question" }, new HistoryTurn { Role = "assistant", Content = "Earlier answer" }] };

        var request = pipeline.BuildRequest(active.Model!, query, context);
        var prompt = active.Model!.Tokenizer.Decode(request.PromptIds, skipSpecialTokens: false);
        Assert.Contains("Cite the passages you use", prompt, StringComparison.Ordinal);
        Assert.Contains("[1] manual.md: Torque the bolts to 40 Nm.", prompt, StringComparison.Ordinal);
        Assert.Contains("- t1: 71.5 C", prompt, StringComparison.Ordinal);
        Assert.True(prompt.IndexOf("Earlier question", StringComparison.Ordinal) < prompt.IndexOf("Earlier answer", StringComparison.Ordinal));
        Assert.True(prompt.IndexOf("Earlier answer", StringComparison.Ordinal) < prompt.IndexOf("How tight?", StringComparison.Ordinal));
        Assert.Contains("<|im_start|>assistant", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Answer_length_is_capped_by_the_agent_and_the_context()
    {
        var options = new AgentOptions { DataDir = _dir.Path, Model = Synthesize("m"), MaxTokens = 16 };
        using var active = await LoadAsync(options);
        var pipeline = Pipeline(active, options);
        Assert.Equal(16, pipeline.BuildRequest(active.Model!, Query("q", maxTokens: 1000), ContextContribution.Empty).Options.MaxNewTokens);
        Assert.Equal(3, pipeline.BuildRequest(active.Model!, Query("q", maxTokens: 3), ContextContribution.Empty).Options.MaxNewTokens);
        var nearlyFull = string.Concat(Enumerable.Repeat("a ", 200));
        var request = pipeline.BuildRequest(active.Model!, Query(nearlyFull), ContextContribution.Empty);
        Assert.True(request.PromptIds.Length + request.Options.MaxNewTokens <= active.Model!.Model.Config.ContextLength);
    }

    [Fact]
    public async Task Question_beyond_the_context_is_too_long()
    {
        var options = new AgentOptions { DataDir = _dir.Path, Model = Synthesize("m") };
        using var active = await LoadAsync(options);
        var ex = Assert.Throws<QueryException>(() => Pipeline(active, options).BuildRequest(active.Model!, Query(string.Concat(Enumerable.Repeat("valve ", 2000))), ContextContribution.Empty));
        Assert.Equal(ErrorCodes.TooLong, ex.Code);
    }

    [Fact]
    public async Task Chat_mode_asks_no_context_source()
    {
        var options = new AgentOptions { DataDir = _dir.Path, Model = AgentOptions.NoModel };
        using var active = await LoadAsync(options);
        var source = new CountingSource();
        var ex = await Assert.ThrowsAsync<QueryException>(async () =>
        {
            await foreach (var _ in Pipeline(active, options, source).RunAsync(Query("hi", AskModes.Chat), CancellationToken.None))
            {
            }
        });
        Assert.Equal(ErrorCodes.ModelUnavailable, ex.Code);
        Assert.Equal(0, source.Calls);
    }

    [Fact]
    public async Task Synthesized_model_in_models_active_is_not_served_unless_allowed()
    {
        var installed = Synthesize("models/tiny/1.0");
        Directory.CreateSymbolicLink(Path.Combine(_dir.Path, "models", "active"), installed);

        using (var refused = await LoadAsync(new AgentOptions { DataDir = _dir.Path }))
        {
            Assert.Null(refused.Model);
            Assert.Contains("synthesized", refused.UnavailableReason, StringComparison.Ordinal);
        }

        using var allowed = await LoadAsync(new AgentOptions { DataDir = _dir.Path, AllowSynthesizedModel = true });
        Assert.NotNull(allowed.Model);
        Assert.Equal(new ModelRef { Id = "tiny", Version = "1.0", Synthesized = true }, allowed.Ref);
    }

    [Fact]
    public async Task No_installed_model_settles_into_retrieval_only()
    {
        using var active = await LoadAsync(new AgentOptions { DataDir = _dir.Path });
        Assert.Null(active.Model);
        Assert.Contains("no model is installed", active.UnavailableReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broken_installed_model_settles_into_retrieval_only_but_a_broken_explicit_one_fails()
    {
        var broken = Path.Combine(_dir.Path, "models", "active");
        Directory.CreateDirectory(broken);
        await File.WriteAllTextAsync(Path.Combine(broken, "genai_config.json"), "{");
        using (var active = await LoadAsync(new AgentOptions { DataDir = _dir.Path }))
        {
            Assert.Null(active.Model);
            Assert.Contains("cannot be loaded", active.UnavailableReason, StringComparison.Ordinal);
        }

        await Assert.ThrowsAnyAsync<ModelFolderException>(() => LoadAsync(new AgentOptions { DataDir = _dir.Path, Model = broken }));
    }

    private sealed class CountingSource : IContextSource
    {
        public int Calls { get; private set; }

        public Task<ContextContribution> GetAsync(QueryContext query, CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult(ContextContribution.Empty);
        }
    }
}
