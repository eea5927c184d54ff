using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary><see cref="ActiveModel.SwitchTo"/>: new requests get the new model, running ones finish on the old one.</summary>
public sealed class HotSwitchTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    private LocalModel Load(string name, int seed)
    {
        var folder = Path.Combine(_dir.Path, name);
        SlotKit.Synthesize(folder, seed);
        return LocalModel.Load(folder);
    }

    [Fact]
    public async Task The_old_model_is_disposed_only_after_its_last_lease_ends()
    {
        var options = new AgentOptions { DataDir = _dir.Path, Model = AgentOptions.NoModel };
        using var active = new ActiveModel(Options.Create(options), NullLogger<ActiveModel>.Instance) { RetireGrace = TimeSpan.Zero };
        await active.SwitchTo(Load("a", 1), new ModelRef { Id = "a", Version = "1" });
        var lease = active.Acquire()!;

        var retired = active.SwitchTo(Load("b", 2), new ModelRef { Id = "b", Version = "2" });

        Assert.Equal("b", active.Ref!.Id);
        Assert.False(retired.IsCompleted);
        var answer = await lease.Model.CompleteAsync(new TextRequest { PromptIds = lease.Model.EncodeRaw("Hi"), Options = new() { MaxNewTokens = 3, DoSample = false } });
        Assert.Equal("a", lease.Ref.Id);
        Assert.True(answer.CompletionTokens > 0);
        Assert.False(retired.IsCompleted);
        lease.Dispose();
        await retired.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_request_streaming_on_the_old_model_finishes_after_the_switch()
    {
        var options = new AgentOptions { DataDir = _dir.Path, Model = AgentOptions.NoModel, MaxTokens = 12 };
        using var active = new ActiveModel(Options.Create(options), NullLogger<ActiveModel>.Instance) { RetireGrace = TimeSpan.Zero };
        await active.SwitchTo(Load("a", 1), new ModelRef { Id = "a", Version = "1" });
        var pipeline = new QueryPipeline(active, [], Options.Create(options), TimeProvider.System);
        var query = new QueryContext { RequestId = "t", Question = "Tell me", Mode = AskModes.Chat, MaxTokens = 12, Temperature = 0 };
        Task? retired = null;
        QueryResult? result = null;

        await foreach (var update in pipeline.RunAsync(query, CancellationToken.None))
        {
            if (update.Result is null)
            {
                // A piece of text means the request holds a scheduler slot of model a (the result comes after it let go).
                retired ??= active.SwitchTo(Load("b", 2), new ModelRef { Id = "b", Version = "2" });
                Assert.False(retired.IsCompleted);
            }

            result = update.Result ?? result;
        }

        Assert.NotNull(result);
        Assert.True(result.Usage.CompletionTokens > 0);
        // The answer names the model it came from, not the one active when it finished.
        Assert.Equal("a", result.Model.Id);
        await retired!.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("b", active.Ref!.Id);
    }
}
