using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Mqtt;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>The first real answers after a switch decide whether the new model stays.</summary>
public sealed class ProbationTests : IDisposable
{
    private static readonly SlotRef V2 = new("base", "2.0.0");

    private readonly SlotKit _kit = new(probationAnswers: 2);

    public ProbationTests() => _kit.Active.StartingAsync(CancellationToken.None).GetAwaiter().GetResult();

    public void Dispose() => _kit.Dispose();

    [Fact]
    public async Task An_internal_error_during_probation_rolls_back_to_the_previous_model()
    {
        var result = await _kit.Activator.ActivateAsync(_kit.Stage("base", "2.0.0"), CancellationToken.None);
        Assert.Equal("on probation for 2 answers", result.Reason);
        Assert.Equal(V2, _kit.ActiveLink);
        var outcome = _kit.Activator.ProbationOutcome!;

        _kit.Activator.Completed(SlotKit.Outcome("stop"), failed: false, 10);
        _kit.Activator.Completed(SlotKit.Outcome(ErrorCodes.Internal), failed: true, 0);
        var settled = await outcome.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ActivationStates.RolledBack, settled.State);
        Assert.Equal("rolled_back: a real answer failed with internal during probation", _kit.Events.Texts[^1]);
        Assert.Equal(SlotKit.Base, _kit.ActiveLink);
        Assert.Equal(new ModelRef { Id = "base", Version = "1.0.0", Synthesized = true }, _kit.Active.Ref);
        Assert.True((await SlotKit.AnswerAsync(_kit.Active)).CompletionTokens > 0);
        Assert.False(Directory.Exists(_kit.Slots.PathOf(V2)));
        var state = _kit.Slots.ReadState();
        Assert.Equal((SlotKit.Base, (SlotRef?)null, (PendingActivation?)null), (state.Active, state.Previous, state.Pending));
    }

    [Fact]
    public async Task Enough_good_answers_commit_the_new_model()
    {
        await _kit.Activator.ActivateAsync(_kit.Stage("base", "2.0.0"), CancellationToken.None);
        var outcome = _kit.Activator.ProbationOutcome!;
        Assert.Equal(ActivationSteps.Probation, _kit.Slots.ReadState().Pending?.Step);

        _kit.Activator.Completed(SlotKit.Outcome(ErrorCodes.Busy), failed: true, 0);
        _kit.Activator.Completed(SlotKit.Outcome("stop"), failed: false, 10);
        _kit.Activator.Completed(SlotKit.Outcome("length"), failed: false, 10);
        var settled = await outcome.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(settled.Activated);
        Assert.Equal("committed", _kit.Events.Texts[^1]);
        var state = _kit.Slots.ReadState();
        Assert.Equal((V2, SlotKit.Base, (PendingActivation?)null), (state.Active, state.Previous, state.Pending));
        Assert.Equal(V2, _kit.ActiveLink);
    }

    [Fact]
    public async Task Another_activation_waits_until_probation_has_ended()
    {
        await _kit.Activator.ActivateAsync(_kit.Stage("base", "2.0.0"), CancellationToken.None);

        var second = await _kit.Activator.ActivateAsync(_kit.Stage("base", "3.0.0"), CancellationToken.None);

        Assert.Equal(ActivationStates.RolledBack, second.State);
        Assert.Contains("still on probation", second.Reason, StringComparison.Ordinal);
        Assert.Equal(V2, _kit.ActiveLink);
    }

    [Fact]
    public async Task A_normal_stop_during_probation_goes_on_with_it_after_the_start()
    {
        await _kit.Activator.ActivateAsync(_kit.Stage("base", "2.0.0"), CancellationToken.None);
        _kit.Activator.Completed(SlotKit.Outcome("stop"), failed: false, 10);

        await _kit.Activator.MarkStoppedAsync(CancellationToken.None);
        var (restarted, activator) = await _kit.RestartWithActivatorAsync();

        Assert.Equal(V2, _kit.ActiveLink);
        Assert.NotNull(restarted.Model);
        var pending = _kit.Slots.ReadState().Pending;
        Assert.Equal((ActivationSteps.Probation, 1, false), (pending?.Step, pending?.ProbationLeft, pending?.StoppedCleanly));
        var outcome = activator.ProbationOutcome!;
        activator.Completed(SlotKit.Outcome("stop"), failed: false, 10);
        Assert.True((await outcome.WaitAsync(TimeSpan.FromSeconds(30))).Activated);
        Assert.Equal(V2, _kit.Slots.ReadState().Active);
    }

    [Fact]
    public async Task Activating_the_previous_version_again_swaps_the_two_slots()
    {
        var swapKit = new SlotKit();
        using (swapKit)
        {
            await swapKit.Active.StartingAsync(CancellationToken.None);
            await swapKit.Activator.ActivateAsync(swapKit.Stage("base", "2.0.0"), CancellationToken.None);

            var back = await swapKit.Activator.ActivateAsync(swapKit.Stage("base", "1.0.0"), CancellationToken.None);

            Assert.True(back.Activated, back.Reason);
            Assert.Equal((SlotKit.Base, V2), (swapKit.ActiveLink, swapKit.PreviousLink));
            Assert.True(swapKit.Slots.IsComplete(V2) && swapKit.Slots.IsComplete(SlotKit.Base));
            Assert.Equal("1.0.0", swapKit.Active.Ref!.Version);
        }
    }
}
