using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Storage;

namespace EdgeLlm.Fleet.Tests.Storage;

/// <summary>The rollout store methods, run on both stores with the rest of the conformance tests.</summary>
public abstract partial class FleetStoreConformanceTests
{
    [Fact]
    public async Task Rollouts_AreStored_Listed_AndUpdatedByCompareAndSet()
    {
        var first = Rollout("ro_1", T0, "dev-a", Nasty[0]);
        var second = Rollout("ro_2", T0.AddMinutes(1), "dev-c");

        Assert.Null(await Store.CreateRolloutAsync(first, CancellationToken.None));
        Assert.Null(await Store.CreateRolloutAsync(second, CancellationToken.None));

        var stored = await Store.GetRolloutAsync("ro_1", CancellationToken.None);
        Assert.Equal(1, stored!.Revision);
        Assert.Equal(Nasty[0], stored.Info.Devices[1].DeviceId);
        Assert.Equal(first.Bundle, stored.Info.Bundle);
        Assert.Equal(first.Reason, stored.Info.Reason);
        Assert.Null(await Store.GetRolloutAsync("ro_nope", CancellationToken.None));
        Assert.Equal(["ro_2", "ro_1"], (await Store.ListRolloutsAsync(null, CancellationToken.None)).Select(r => r.Info.Id));

        var paused = first with { State = RolloutStates.Paused, CurrentStage = 1 };
        Assert.True(await Store.UpdateRolloutAsync(paused, 1, CancellationToken.None));
        Assert.False(await Store.UpdateRolloutAsync(first with { State = RolloutStates.Aborted }, 1, CancellationToken.None));
        Assert.False(await Store.UpdateRolloutAsync(Rollout("ro_nope", T0), 1, CancellationToken.None));

        var updated = await Store.GetRolloutAsync("ro_1", CancellationToken.None);
        Assert.Equal((2L, RolloutStates.Paused, 1), (updated!.Revision, updated.Info.State, updated.Info.CurrentStage));
        Assert.Equal(["ro_1"], (await Store.ListRolloutsAsync(RolloutStates.Paused, CancellationToken.None)).Select(r => r.Info.Id));
        Assert.Equal(["ro_2"], (await Store.ListRolloutsAsync(RolloutStates.Running, CancellationToken.None)).Select(r => r.Info.Id));
    }

    [Fact]
    public async Task A_rollout_overlapping_an_active_one_is_refused_and_an_ended_one_frees_its_devices()
    {
        Assert.Null(await Store.CreateRolloutAsync(Rollout("ro_1", T0, "dev-a", "dev-b"), CancellationToken.None));

        var conflict = await Store.CreateRolloutAsync(Rollout("ro_2", T0, "dev-b", "dev-c"), CancellationToken.None);
        Assert.Equal("ro_1", conflict?.Id);
        Assert.Null(await Store.GetRolloutAsync("ro_2", CancellationToken.None));

        foreach (var state in new[] { RolloutStates.Paused, RolloutStates.Halted })
        {
            var current = (await Store.GetRolloutAsync("ro_1", CancellationToken.None))!;
            Assert.True(await Store.UpdateRolloutAsync(current.Info with { State = state }, current.Revision, CancellationToken.None));
            Assert.Equal("ro_1", (await Store.CreateRolloutAsync(Rollout("ro_3", T0, "dev-a"), CancellationToken.None))?.Id);
        }

        var last = (await Store.GetRolloutAsync("ro_1", CancellationToken.None))!;
        Assert.True(await Store.UpdateRolloutAsync(last.Info with { State = RolloutStates.Aborted }, last.Revision, CancellationToken.None));
        Assert.Null(await Store.CreateRolloutAsync(Rollout("ro_4", T0, "dev-b", "dev-c"), CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_overlapping_rollouts_create_exactly_one()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Store.CreateRolloutAsync(Rollout($"ro_{i}", T0, "dev-shared", $"dev-{i}"), CancellationToken.None)));

        Assert.Single(results, r => r is null);
        Assert.Single(await Store.ListRolloutsAsync(null, CancellationToken.None));
    }

    private static RolloutInfo Rollout(string id, DateTimeOffset at, params string[] devices) => new()
    {
        Id = id,
        Bundle = new ArtifactRef { Name = "qwen3", Version = "2.0.0", Sha256 = new string('b', 64) },
        Target = new RolloutTarget { Devices = devices },
        State = RolloutStates.Running,
        Reason = Nasty[5],
        Stages = [new RolloutStage { Percent = 100, Devices = devices.Length }],
        Devices = [.. devices.Select(d => new RolloutDevice { DeviceId = d, State = RolloutDeviceStates.Waiting })],
        CreatedAt = at,
        CreatedBy = "ops",
        UpdatedAt = at,
    };
}
