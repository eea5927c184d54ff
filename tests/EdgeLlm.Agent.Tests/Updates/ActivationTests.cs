using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Mqtt;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>Activation of a staged model on real tiny synthesized models: switch, refusals, probation.</summary>
public sealed class ActivationTests : IDisposable
{
    private static readonly SlotRef V2 = new("base", "2.0.0");

    private readonly SlotKit _kit = new();

    public ActivationTests() => _kit.Active.StartingAsync(CancellationToken.None).GetAwaiter().GetResult();

    public void Dispose() => _kit.Dispose();

    [Fact]
    public async Task Activation_switches_the_link_and_the_served_model_and_keeps_the_previous_slot()
    {
        var staged = _kit.Stage("base", "2.0.0");

        var result = await _kit.Activator.ActivateAsync(staged, CancellationToken.None);

        Assert.True(result.Activated, result.Reason);
        Assert.Equal(["unpacking", "loading", "smoke_test", "active"], _kit.Events.States);
        Assert.Equal(V2, _kit.ActiveLink);
        Assert.Equal(SlotKit.Base, _kit.PreviousLink);
        Assert.Equal(new ModelRef { Id = "base", Version = "2.0.0", Synthesized = true }, _kit.Active.Ref);
        Assert.True((await SlotKit.AnswerAsync(_kit.Active)).CompletionTokens > 0);
        Assert.False(Directory.Exists(staged.StagingFolder));
        Assert.True(_kit.Slots.IsComplete(SlotKit.Base));
        var state = _kit.Slots.ReadState();
        Assert.Equal((V2, SlotKit.Base, null), (state.Active, state.Previous, state.Pending));
    }

    [Fact]
    public async Task A_third_version_deletes_the_slot_before_the_previous_one()
    {
        Assert.True((await _kit.Activator.ActivateAsync(_kit.Stage("base", "2.0.0"), CancellationToken.None)).Activated);
        Assert.True((await _kit.Activator.ActivateAsync(_kit.Stage("other", "3.0.0", seed: 3), CancellationToken.None)).Activated);

        Assert.Equal(new SlotRef("other", "3.0.0"), _kit.ActiveLink);
        Assert.Equal(V2, _kit.PreviousLink);
        Assert.False(Directory.Exists(_kit.Slots.PathOf(SlotKit.Base)));
        Assert.True(_kit.Slots.IsComplete(V2));
    }

    [Fact]
    public async Task A_model_that_cannot_be_loaded_is_refused_and_the_old_one_keeps_serving()
    {
        var staged = _kit.Stage("base", "2.0.0");
        await File.WriteAllBytesAsync(Path.Combine(staged.StagingFolder, "model.onnx"), [1, 2, 3, 4, 5]);
        var served = _kit.Active.Model;

        var result = await _kit.Activator.ActivateAsync(staged, CancellationToken.None);

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.Equal(["unpacking", "loading", "load_failed", "rolled_back"], _kit.Events.States);
        AssertOldModelServes(served);
        Assert.Equal(ActivationStates.LoadFailed, _kit.Slots.ReadState().LastFailure?.State);
    }

    [Fact]
    public async Task A_smoke_test_that_expects_what_the_model_never_says_is_refused()
    {
        var smoke = new BundleSmokeTest
        {
            Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 4, ExpectSubstrings = ["the answer is forty-two"] }],
            TimeoutSeconds = 60,
        };
        var served = _kit.Active.Model;

        var result = await _kit.Activator.ActivateAsync(_kit.Stage("base", "2.0.0", smoke), CancellationToken.None);

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.StartsWith("smoke_test_failed: the answer to prompt 1 does not contain \"the answer is forty-two\"", _kit.Events.Texts[^2], StringComparison.Ordinal);
        AssertOldModelServes(served);
    }

    [Fact]
    public async Task A_speed_floor_no_model_reaches_fails_the_smoke_test()
    {
        var smoke = SlotKit.Passing() with { Prompts = [new BundleSmokePrompt { Prompt = "Count", MaxTokens = 8 }], MinTokensPerS = 1e12 };

        await _kit.Activator.ActivateAsync(_kit.Stage("base", "2.0.0", smoke), CancellationToken.None);

        Assert.Contains(_kit.Events.Texts, t => t.StartsWith("smoke_test_failed: ", StringComparison.Ordinal) && t.Contains("below the floor", StringComparison.Ordinal));
        Assert.Equal(SlotKit.Base, _kit.ActiveLink);
    }

    [Fact]
    public async Task A_smoke_test_past_its_timeout_fails()
    {
        // Every reading of the fake clock moves it 5 s on: the 1 s limit passes before the first token.
        var time = new FakeTimeProvider { AutoAdvanceAmount = TimeSpan.FromSeconds(5) };
        var events = new RecordingEvents();
        var activator = _kit.NewActivator(_kit.Active, events, time);
        var smoke = SlotKit.Passing() with { Prompts = [new BundleSmokePrompt { Prompt = "Count", MaxTokens = 64 }], TimeoutSeconds = 1 };

        await activator.ActivateAsync(_kit.Stage("base", "2.0.0", smoke), CancellationToken.None);

        Assert.Contains(events.Texts, t => t.StartsWith("smoke_test_failed: no result within 1 s", StringComparison.Ordinal));
        Assert.Equal(SlotKit.Base, _kit.ActiveLink);
    }

    [Theory]
    [InlineData("active")]
    [InlineData("previous")]
    [InlineData(".hidden")]
    public async Task Names_that_collide_with_the_layout_are_refused(string name)
    {
        var result = await _kit.Activator.ActivateAsync(_kit.Stage(name, "2.0.0"), CancellationToken.None);

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.Contains("cannot be a model slot", result.Reason, StringComparison.Ordinal);
        Assert.Equal(SlotKit.Base, _kit.ActiveLink);
    }

    [Fact]
    public async Task Activating_the_active_version_again_changes_nothing()
    {
        var result = await _kit.Activator.ActivateAsync(_kit.Stage("base", "1.0.0"), CancellationToken.None);

        Assert.Equal((ActivationStates.Active, "already active"), (result.State, result.Reason));
        Assert.Equal(SlotKit.Base, _kit.ActiveLink);
    }

    private void AssertOldModelServes(object? served)
    {
        Assert.Same(served, _kit.Active.Model);
        Assert.Equal(SlotKit.Base, _kit.ActiveLink);
        Assert.False(Directory.Exists(_kit.Slots.PathOf(V2)));
        Assert.Null(_kit.Slots.ReadState().Pending);
    }
}
