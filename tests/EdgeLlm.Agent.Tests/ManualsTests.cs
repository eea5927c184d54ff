using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Knowledge;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Knowledge;
using EdgeLlm.Knowledge.Chunking;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests;

/// <summary>Manual passages in the query pipeline: the sample manual in a real knowledge.db, a tiny synthesized model.</summary>
public sealed class ManualsTests : IDisposable
{
    private const string SampleManual = "brightline-bl200.md";
    private const string Unanswerable = "Which football club won the league last season?";

    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    private async Task IngestSampleAsync()
    {
        using var kb = KnowledgeBase.Open(Path.Combine(_dir.Path, KnowledgeBase.FileName));
        var results = await kb.IngestAsync([Path.Combine(TestPaths.RepoRoot, "samples", "manuals")]);
        Assert.All(results, r => Assert.NotEqual(IngestStatus.Failed, r.Status));
    }

    /// <summary>The sample manual ingested, then the agent's pieces on the data folder, with or without the tiny model.</summary>
    private async Task<TestAgent> AgentAsync(bool withModel)
    {
        await IngestSampleAsync();
        var model = AgentOptions.NoModel;
        if (withModel)
        {
            model = Path.Combine(_dir.Path, "model");
            ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", model, 1));
        }

        var options = new AgentOptions { DataDir = _dir.Path, Model = model, MaxTokens = 4, Temperature = 0 };
        var active = new ActiveModel(Options.Create(options), NullLogger<ActiveModel>.Instance);
        await active.StartingAsync(CancellationToken.None);
        var manuals = new Manuals(Options.Create(options), Options.Create(new ManualsOptions()), active);
        var pipeline = new QueryPipeline(active, [new ManualsContextSource(manuals, active)], Options.Create(options), TimeProvider.System, new ManualsRetrievalAnswerer(active));
        return new TestAgent(active, pipeline, manuals, options);
    }

    private sealed record TestAgent(ActiveModel Active, QueryPipeline Pipeline, Manuals Manuals, AgentOptions Options) : IDisposable
    {
        public void Dispose()
        {
            Manuals.Dispose();
            Active.Dispose();
        }
    }

    private static QueryContext Query(string question, string mode = AskModes.Auto) =>
        new() { RequestId = "t", Question = question, Mode = mode, Temperature = 0 };

    /// <summary>The manual context for a question and the prompt the pipeline builds from it, decoded.</summary>
    private static async Task<(ContextContribution Context, string Prompt)> PromptAsync(TestAgent agent, QueryContext query)
    {
        var context = await new ManualsContextSource(agent.Manuals, agent.Active).GetAsync(query, CancellationToken.None);
        var model = agent.Active.Model!;
        return (context, model.Tokenizer.Decode(agent.Pipeline.BuildRequest(model, query, context).PromptIds, skipSpecialTokens: false));
    }

    private static async Task<(string Text, QueryResult Result)> RunAsync(QueryPipeline pipeline, QueryContext query)
    {
        var text = "";
        QueryResult? result = null;
        await foreach (var u in pipeline.RunAsync(query, CancellationToken.None))
        {
            text += u.Text;
            result = u.Result ?? result;
        }

        Assert.NotNull(result);
        return (text, result);
    }

    [Fact]
    public async Task Retrieval_only_answer_is_the_cited_passages_of_the_right_section()
    {
        using var agent = await AgentAsync(withModel: false);
        var (text, result) = await RunAsync(agent.Pipeline, Query("What does E-17 mean?"));
        Assert.Equal(text, result.Text);
        Assert.StartsWith(ManualsRetrievalAnswerer.RetrievalOnlyLabel, text, StringComparison.Ordinal);
        Assert.Contains("[1] " + SampleManual, text, StringComparison.Ordinal);
        Assert.Contains("chute", text, StringComparison.Ordinal);
        Assert.Equal("retrieval", result.FinishReason);
        Assert.Equal(AgentOptions.NoModel, result.Model.Id);
        var first = result.Citations[0];
        Assert.Equal(SampleManual, first.Source);
        Assert.Equal("E-17 Cap chute jam", first.Heading![^1]);
        Assert.Contains("E-17 Cap chute jam", first.Location, StringComparison.Ordinal);
        Assert.StartsWith("Brightline BL-200", first.Title, StringComparison.Ordinal);
        Assert.InRange(first.Score!.Value, 0.0, 1.0);
        Assert.All(result.Citations, c => Assert.True(c.Score >= first.Score * new ManualsOptions().MinScoreShare));
        Assert.DoesNotContain(result.Citations, c => c.Heading![^1].StartsWith("E-40", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false, AskModes.Auto)]
    [InlineData(false, AskModes.Manuals)]
    [InlineData(true, AskModes.Manuals)]
    public async Task Unanswerable_question_gets_not_in_the_manuals_without_citations(bool withModel, string mode)
    {
        using var agent = await AgentAsync(withModel);
        var (text, result) = await RunAsync(agent.Pipeline, Query(Unanswerable, mode));
        Assert.EndsWith(ManualsRetrievalAnswerer.NotCovered, text, StringComparison.Ordinal);
        Assert.Empty(result.Citations);
        Assert.Equal("retrieval", result.FinishReason);
    }

    [Fact]
    public async Task Prompt_holds_the_numbered_passages_and_the_model_answer_carries_their_citations()
    {
        using var agent = await AgentAsync(withModel: true);
        var query = Query("What torque for 38 mm caps on glass bottles?");
        var (context, prompt) = await PromptAsync(agent, query);
        Assert.Contains(agent.Options.SystemPrompt, prompt, StringComparison.Ordinal);
        Assert.Contains("[1] " + SampleManual + ", ", prompt, StringComparison.Ordinal);
        Assert.Contains("[1] " + SampleManual + ", 6. Torque settings\nSet the capping torque", prompt, StringComparison.Ordinal);
        Assert.Contains("| Cap | Bottle | Application torque |", prompt, StringComparison.Ordinal);
        Assert.Equal(context.Passages.Count, context.Citations.Count);
        for (var i = 0; i < context.Passages.Count; i++)
        {
            Assert.StartsWith($"[{i + 1}] {context.Citations[i].Source}", context.Passages[i], StringComparison.Ordinal);
        }

        Assert.Equal("6. Torque settings", context.Citations[0].Heading![^1]);

        var (_, result) = await RunAsync(agent.Pipeline, query);
        Assert.NotEqual("retrieval", result.FinishReason);
        Assert.Equal(context.Citations.Select(c => (c.Source, c.Location)), result.Citations.Select(c => (c.Source, c.Location)));
    }

    [Fact]
    public async Task Model_is_told_when_the_manuals_do_not_cover_the_question()
    {
        using var agent = await AgentAsync(withModel: true);
        var query = Query(Unanswerable);
        var (context, prompt) = await PromptAsync(agent, query);
        Assert.Empty(context.Citations);
        Assert.Contains(ManualsContextSource.NotCoveredNote, prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sensors_and_chat_modes_get_no_manual_context()
    {
        using var agent = await AgentAsync(withModel: false);
        var source = new ManualsContextSource(agent.Manuals, agent.Active);
        Assert.True((await source.GetAsync(Query("What does E-17 mean?", AskModes.Sensors), CancellationToken.None)).IsEmpty);
        Assert.Null(await new ManualsRetrievalAnswerer(agent.Active).AnswerAsync(Query("hi", AskModes.Chat), ContextContribution.Empty, CancellationToken.None));
    }

    [Fact]
    public async Task Manuals_added_while_the_agent_runs_are_searched_with_fresh_statistics()
    {
        using var agent = await AgentAsync(withModel: false);
        const string question = "What does the flux capacitor warning FC-88 mean?";
        Assert.False(agent.Manuals.Search(question).Answerable);
        var extra = Path.Combine(_dir.Path, "extra", "flux-unit.md");
        Directory.CreateDirectory(Path.GetDirectoryName(extra)!);
        await File.WriteAllTextAsync(extra, "# Flux unit\n\n## FC-88 Flux capacitor warning\n\nThe flux capacitor is below 1.21 GW. Recharge it before the next run.\n");
        using (var kb = KnowledgeBase.Open(Path.Combine(_dir.Path, KnowledgeBase.FileName)))
        {
            await kb.IngestAsync([extra]);
        }

        var found = agent.Manuals.Search(question);
        Assert.True(found.Answerable);
        Assert.Equal("flux-unit.md", found.Passages[0].Document);
    }

    [Fact]
    public void Passages_beyond_the_token_budget_are_left_out_and_the_best_one_is_shortened_to_fit()
    {
        var passages = Enumerable.Range(1, 3)
            .Select(i => new Passage(i, "m.md", "M", "/m.md", ["Section " + i], i, 0.9, string.Concat(Enumerable.Repeat("word ", 40))))
            .ToList();
        var counter = EstimatingTokenCounter.Instance;
        var one = counter.CountTokens(ManualsContextSource.Label(1, passages[0]) + "\n" + passages[0].Text);

        var two = ManualsContextSource.Build(passages, counter, one * 2 + 1);
        Assert.Equal(2, two.Passages.Count);
        Assert.Equal(["Section 1", "Section 2"], two.Citations.Select(c => c.Heading![0]));
        Assert.StartsWith("[2] m.md, Section 2, p. 2\n", two.Passages[1], StringComparison.Ordinal);

        var cut = ManualsContextSource.Build(passages, counter, one / 2);
        Assert.Single(cut.Passages);
        Assert.True(counter.CountTokens(cut.Passages[0]) <= one / 2 + 2);
    }

    [Fact]
    public void Bad_knowledge_options_are_refused_at_start_naming_the_key()
    {
        var builder = AgentHost.CreateBuilder(new AgentSwitches
        {
            DataDir = _dir.Path,
            Model = AgentOptions.NoModel,
            Settings = new Dictionary<string, string?> { ["Knowledge:TopK"] = "0", ["Knowledge:RelevanceFloor"] = "1.5" },
        });
        Assert.Contains(builder.Services, d => d.ServiceType == typeof(IContextSource) && d.ImplementationType == typeof(ManualsContextSource));
        using var host = builder.Build();
        var ex = Assert.Throws<OptionsValidationException>(() => AgentHost.ValidateOptions(host.Services));
        Assert.Contains("TopK", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RelevanceFloor", ex.Message, StringComparison.Ordinal);
    }
}
