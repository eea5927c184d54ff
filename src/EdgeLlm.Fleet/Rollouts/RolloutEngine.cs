using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Storage;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>The outcome of an operator's state change.</summary>
internal enum TransitionOutcome
{
    Done,
    NotFound,

    /// <summary>The rollout's state does not allow the change.</summary>
    NotAllowed,
}

/// <summary>
/// Evaluates rollouts from what devices report and moves them on. A device succeeded when its reported model is the
/// bundle (name, version and, when reported, SHA-256); it failed when, after its stage started, it reports a state
/// starting with <c>rolled_back</c>, <c>smoke_test_failed</c> or <c>refused</c> (the agent's update states), or such an
/// end of this bundle's update among its errors (<c>update NAME VERSION: rolled_back: …</c>), or when it was revoked. A stage (cumulative: it holds the earlier stages' devices) halts the rollout as soon as its failed share
/// passes the threshold, and advances when no device is pending, the soak time has passed and the share is within it.
/// Every change is a compare-and-set on the rollout's revision, so several server instances (or the background loop
/// and an operator) stepping one rollout never both apply a step; desired states are written after the step is stored
/// and re-applied on later steps for pending devices, so a crash in between loses nothing.
/// </summary>
internal sealed class RolloutEngine(IFleetStore store, TimeProvider time, ILogger<RolloutEngine> logger) : IDisposable
{
    // Steps of this instance that overlap (the loop woken by a report, an operator's step) read and write a device's
    // desired state one at a time, so an unchanged model is never written twice (each write is a new revision).
    private readonly SemaphoreSlim _desiredGate = new(1, 1);

    /// <summary>The actor of automatic changes in the audit log.</summary>
    public const string SystemActor = "rollouts";

    private const int MaxAttempts = 8;

    private static readonly string[] FailurePrefixes = ["rolled_back", "smoke_test_failed", "refused"];

    /// <summary>Steps every running rollout once.</summary>
    public async Task StepAllAsync(CancellationToken cancellationToken)
    {
        foreach (var rollout in await store.ListRolloutsAsync(RolloutStates.Running, cancellationToken))
        {
            await StepAsync(rollout.Info.Id, cancellationToken);
        }
    }

    /// <summary>Evaluates one rollout now; null when it does not exist. A rollout that is not running is returned as it is.</summary>
    public async Task<RolloutInfo?> StepAsync(string id, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (await store.GetRolloutAsync(id, cancellationToken) is not { } record)
            {
                return null;
            }

            if (record.Info.State != RolloutStates.Running)
            {
                return record.Info;
            }

            var next = await EvaluateAsync(record.Info, cancellationToken);
            if (await store.UpdateRolloutAsync(next, record.Revision, cancellationToken))
            {
                await AfterStepAsync(record.Info, next, cancellationToken);
                return next;
            }
        }

        return (await store.GetRolloutAsync(id, cancellationToken))?.Info;
    }

    /// <summary>Moves the rollout from a state <paramref name="allowed"/> accepts to <paramref name="to"/>.</summary>
    public async Task<(TransitionOutcome Outcome, RolloutInfo? Rollout)> TransitionAsync(
        string id, Func<string, bool> allowed, string to, string? reason, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (await store.GetRolloutAsync(id, cancellationToken) is not { } record)
            {
                return (TransitionOutcome.NotFound, null);
            }

            if (!allowed(record.Info.State))
            {
                return (TransitionOutcome.NotAllowed, record.Info);
            }

            var next = record.Info with { State = to, Reason = reason ?? record.Info.Reason, UpdatedAt = time.GetUtcNow() };
            if (to == RolloutStates.RolledBack)
            {
                next = next with
                {
                    Devices = [.. next.Devices.Select(d => d.State == RolloutDeviceStates.Waiting ? d : d with { State = RolloutDeviceStates.Restored })],
                };
            }

            if (await store.UpdateRolloutAsync(next, record.Revision, cancellationToken))
            {
                if (to == RolloutStates.RolledBack)
                {
                    await RestoreAsync(next, cancellationToken);
                }

                return (TransitionOutcome.Done, next);
            }
        }

        return (TransitionOutcome.NotAllowed, (await store.GetRolloutAsync(id, cancellationToken))?.Info);
    }

    private async Task<RolloutInfo> EvaluateAsync(RolloutInfo rollout, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var devices = rollout.Devices.ToList();
        var stages = rollout.Stages.ToList();
        var current = rollout.CurrentStage;
        if (stages[current].StartedAt is null)
        {
            await StartStageAsync(devices, stages, current, now, cancellationToken);
        }

        for (var i = 0; i < devices.Count; i++)
        {
            if (devices[i].Stage <= current)
            {
                devices[i] = await JudgeAsync(rollout.Bundle, devices[i], stages[devices[i].Stage].StartedAt!.Value, cancellationToken);
            }
        }

        var next = rollout with { Devices = devices, UpdatedAt = now };
        var counted = RolloutPlan.Count(next with { Stages = stages })[current];
        if (counted.Failed > rollout.MaxFailureRate * counted.Devices)
        {
            var reason = $"stage {current + 1} ({counted.Percent}%): {counted.Failed} of {counted.Devices} devices failed or rolled back, more than {rollout.MaxFailureRate:0.###} allows";
            next = next with { State = RolloutStates.Halted, Reason = reason };
        }
        else if (counted.Pending == 0 && now >= stages[current].StartedAt!.Value.AddSeconds(rollout.SoakSeconds))
        {
            if (current == stages.Count - 1)
            {
                next = next with { State = RolloutStates.Completed };
            }
            else
            {
                current++;
                await StartStageAsync(devices, stages, current, now, cancellationToken);
                next = next with { CurrentStage = current };
            }
        }

        next = next with { Stages = stages };
        return next with { Stages = RolloutPlan.Count(next) };
    }

    /// <summary>Marks the stage's new devices pending and records each one's current desired model for a rollback.</summary>
    private async Task StartStageAsync(List<RolloutDevice> devices, List<RolloutStage> stages, int stage, DateTimeOffset now, CancellationToken cancellationToken)
    {
        for (var i = 0; i < devices.Count; i++)
        {
            if (devices[i].Stage == stage && devices[i].State == RolloutDeviceStates.Waiting)
            {
                var previous = (await store.GetDesiredAsync(devices[i].DeviceId, cancellationToken)).Model;
                devices[i] = devices[i] with { State = RolloutDeviceStates.Pending, PreviousModel = previous };
            }
        }

        stages[stage] = stages[stage] with { StartedAt = now };
    }

    private async Task<RolloutDevice> JudgeAsync(ArtifactRef bundle, RolloutDevice device, DateTimeOffset stageStarted, CancellationToken cancellationToken)
    {
        var record = await store.GetDeviceAsync(device.DeviceId, cancellationToken);
        if (record is null || record.Revoked)
        {
            return device with { State = RolloutDeviceStates.Failed, Detail = "revoked" };
        }

        var reported = record.Reported;
        if (reported?.Model is { } model && IsBundle(model, bundle))
        {
            return device with { State = RolloutDeviceStates.Succeeded, Detail = null };
        }

        if (reported is null || record.ReportedAt < stageStarted)
        {
            return device with { State = RolloutDeviceStates.Pending, Detail = null };
        }

        if (reported.State is { } state && IsFailure(state))
        {
            return device with { State = RolloutDeviceStates.Failed, Detail = state };
        }

        // An agent back to serving its old model reports its state as ready and the update's end among its errors,
        // as "update NAME VERSION: STATE: reason".
        var prefix = $"update {bundle.Name} {bundle.Version}: ";
        if (reported.Errors.FirstOrDefault(e => e.StartsWith(prefix, StringComparison.Ordinal) && IsFailure(e[prefix.Length..])) is { } error)
        {
            return device with { State = RolloutDeviceStates.Failed, Detail = error[prefix.Length..] };
        }

        return device with { State = RolloutDeviceStates.Pending, Detail = null };
    }

    private static bool IsFailure(string state) => FailurePrefixes.Any(p => state.StartsWith(p, StringComparison.Ordinal));

    private async Task AfterStepAsync(RolloutInfo before, RolloutInfo after, CancellationToken cancellationToken)
    {
        var bundle = RolloutPlan.Describe(after.Bundle);
        if (after.CurrentStage != before.CurrentStage || before.Stages[before.CurrentStage].StartedAt is null)
        {
            RolloutLog.StageStarted(logger, after.Id, bundle, after.CurrentStage + 1, after.Stages[after.CurrentStage].Devices);
        }

        if (after.State == RolloutStates.Halted)
        {
            RolloutLog.Halted(logger, after.Id, after.Reason!);
            await AuditAsync("rollout.halt", after.Id, after.Reason, cancellationToken);
            return;
        }

        if (after.State == RolloutStates.Completed)
        {
            RolloutLog.Completed(logger, after.Id);
            await AuditAsync("rollout.complete", after.Id, bundle, cancellationToken);
            return;
        }

        // Pending devices whose desired model is not the bundle yet get it (again, after a crash), other fields kept.
        foreach (var device in after.Devices.Where(d => d.State == RolloutDeviceStates.Pending))
        {
            await SetModelAsync(device.DeviceId, desired => desired.Model is { } m && IsBundle(m, after.Bundle) ? null : after.Bundle, cancellationToken);
        }
    }

    /// <summary>Devices whose desired model is still the bundle get their previous model back (a later operator change is kept).</summary>
    private async Task RestoreAsync(RolloutInfo rollout, CancellationToken cancellationToken)
    {
        foreach (var device in rollout.Devices.Where(d => d.State == RolloutDeviceStates.Restored))
        {
            await SetModelAsync(
                device.DeviceId,
                desired => desired.Model is { } m && IsBundle(m, rollout.Bundle) ? device.PreviousModel ?? NoModel : null,
                cancellationToken);
        }
    }

    /// <summary>Stands for "no model" in <see cref="SetModelAsync"/>.</summary>
    private static readonly ArtifactRef NoModel = new() { Name = "", Version = "" };

    /// <summary>Replaces the desired model with what <paramref name="choose"/> returns (null: leave it), keeping the other desired fields.</summary>
    private async Task SetModelAsync(string deviceId, Func<DesiredState, ArtifactRef?> choose, CancellationToken cancellationToken)
    {
        await _desiredGate.WaitAsync(cancellationToken);
        try
        {
            await SetModelLockedAsync(deviceId, choose, cancellationToken);
        }
        finally
        {
            _desiredGate.Release();
        }
    }

    public void Dispose() => _desiredGate.Dispose();

    private async Task SetModelLockedAsync(string deviceId, Func<DesiredState, ArtifactRef?> choose, CancellationToken cancellationToken)
    {
        var desired = await store.GetDesiredAsync(deviceId, cancellationToken);
        if (choose(desired) is not { } model)
        {
            return;
        }

        var update = new DesiredStateUpdate
        {
            Model = ReferenceEquals(model, NoModel) ? null : model,
            Adapters = desired.Adapters,
            ConfigBundle = desired.ConfigBundle,
            Config = desired.Config,
            QueryLogUpload = desired.QueryLogUpload,
        };
        await store.SetDesiredAsync(deviceId, update, cancellationToken);
    }

    private Task AuditAsync(string action, string target, string? detail, CancellationToken cancellationToken) =>
        store.AppendAuditAsync(new AuditEntry { At = time.GetUtcNow(), Actor = SystemActor, Action = action, Target = target, Detail = detail }, cancellationToken);

    private static bool IsBundle(ArtifactRef model, ArtifactRef bundle) =>
        model.Name == bundle.Name && model.Version == bundle.Version
        && (model.Sha256 is null || string.Equals(model.Sha256, bundle.Sha256, StringComparison.OrdinalIgnoreCase));
}
