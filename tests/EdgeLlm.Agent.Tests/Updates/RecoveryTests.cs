using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Updates;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>
/// A crash at any step of an activation, then a fresh start on the same data directory: <c>models/active</c> names a
/// complete slot that loads (the old or the new one, never half of one) and slots.json has nothing left in progress.
/// </summary>
public sealed class RecoveryTests
{
    private static readonly SlotRef V2 = new("base", "2.0.0");

    [Theory]
    [InlineData("unpacking", 0, "1.0.0")]
    [InlineData("loading", 0, "1.0.0")]
    [InlineData("smoke_test", 0, "1.0.0")]
    [InlineData("active", 2, "1.0.0")]
    [InlineData("active", 0, "2.0.0")]
    public async Task A_crash_at_a_step_leaves_the_old_or_the_new_model_active(string crashAt, int probation, string expected)
    {
        using var kit = new SlotKit(probation);
        await kit.Active.StartingAsync(CancellationToken.None);
        kit.Events.CrashAt = crashAt;

        await Assert.ThrowsAsync<SimulatedCrashException>(() => kit.Activator.ActivateAsync(kit.Stage("base", "2.0.0"), CancellationToken.None));
        using var restarted = await kit.RestartAsync();

        await AssertRecoveredAsync(kit, restarted, new SlotRef("base", expected));
        Assert.Equal(expected == "1.0.0", !Directory.Exists(kit.Slots.PathOf(V2)));
    }

    [Theory]
    [InlineData(false, "1.0.0")]
    [InlineData(true, "1.0.0")]
    public async Task A_crash_between_the_two_link_renames_or_after_them_goes_back_to_the_committed_slot(bool activeRenamed, string expected)
    {
        using var kit = new SlotKit();
        SlotKit.Synthesize(kit.Slots.PathOf(V2), seed: 2);
        kit.Slots.WriteState(new SlotState { Active = SlotKit.Base, Pending = new PendingActivation(V2, ActivationSteps.Switching, ReusedSlot: false) });
        kit.Slots.SetLink(ModelSlots.PreviousLink, SlotKit.Base);
        if (activeRenamed)
        {
            kit.Slots.SetLink(ModelSlots.ActiveLink, V2);
        }

        using var restarted = await kit.RestartAsync();

        await AssertRecoveredAsync(kit, restarted, new SlotRef("base", expected));
        Assert.Null(kit.PreviousLink);
    }

    [Fact]
    public async Task A_first_install_that_crashed_after_its_switch_is_kept()
    {
        using var kit = new SlotKit(probationAnswers: 3, installBase: false);
        kit.Events.CrashAt = "active";

        await Assert.ThrowsAsync<SimulatedCrashException>(() => kit.Activator.ActivateAsync(kit.Stage("base", "2.0.0"), CancellationToken.None));
        using var restarted = await kit.RestartAsync();

        await AssertRecoveredAsync(kit, restarted, V2);
    }

    [Fact]
    public async Task A_crash_before_the_first_install_switched_leaves_no_model_and_no_slot()
    {
        using var kit = new SlotKit(installBase: false);
        kit.Events.CrashAt = "smoke_test";

        await Assert.ThrowsAsync<SimulatedCrashException>(() => kit.Activator.ActivateAsync(kit.Stage("base", "2.0.0"), CancellationToken.None));
        using var restarted = await kit.RestartAsync();

        Assert.Null(restarted.Model);
        Assert.Null(kit.ActiveLink);
        Assert.False(Directory.Exists(kit.Slots.PathOf(V2)));
        Assert.Null(kit.Slots.ReadState().Pending);
    }

    [Fact]
    public async Task Leftover_temp_links_and_state_files_are_removed()
    {
        using var kit = new SlotKit();
        File.CreateSymbolicLink(Path.Combine(kit.Slots.Root, ".active.tmp-0123456789ab"), V2.Relative);
        await File.WriteAllTextAsync(Path.Combine(kit.Slots.Root, "slots.json.tmp-0123456789ab"), "{ half");

        using var restarted = await kit.RestartAsync();

        Assert.Empty(Directory.EnumerateFileSystemEntries(kit.Slots.Root, "*.tmp-*"));
        await AssertRecoveredAsync(kit, restarted, SlotKit.Base);
    }

    [Fact]
    public async Task An_unreadable_state_file_is_rebuilt_from_the_links()
    {
        using var kit = new SlotKit();
        await File.WriteAllTextAsync(Path.Combine(kit.Slots.Root, ModelSlots.StateFile), "{ not json");

        using var restarted = await kit.RestartAsync();

        await AssertRecoveredAsync(kit, restarted, SlotKit.Base);
    }

    [Fact]
    public async Task A_staging_folder_that_cannot_be_moved_is_refused_without_touching_the_active_model()
    {
        using var kit = new SlotKit();
        await kit.Active.StartingAsync(CancellationToken.None);
        var missing = new ModelCandidate(Path.Combine(kit.DataDir, "staging", "gone"), "base", "2.0.0", SlotKit.Passing());

        var result = await kit.Activator.ActivateAsync(missing, CancellationToken.None);

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.Contains("cannot be moved", result.Reason, StringComparison.Ordinal);
        Assert.Equal(SlotKit.Base, kit.ActiveLink);
        Assert.Null(kit.Slots.ReadState().Pending);
    }

    private static async Task AssertRecoveredAsync(SlotKit kit, ActiveModel restarted, SlotRef expected)
    {
        Assert.Equal(expected, kit.ActiveLink);
        Assert.True(kit.Slots.IsComplete(expected));
        var state = kit.Slots.ReadState();
        Assert.Null(state.Pending);
        Assert.Equal(expected, state.Active);
        Assert.NotNull(restarted.Model);
        Assert.True((await SlotKit.AnswerAsync(restarted)).CompletionTokens > 0);
    }
}
