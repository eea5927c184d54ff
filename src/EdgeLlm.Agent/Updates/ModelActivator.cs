using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Storage;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.ModelFolders;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>A verified, unpacked model waiting in a staging folder (on the data directory's filesystem) to be activated.</summary>
internal sealed record ModelCandidate(string StagingFolder, string Name, string Version, BundleSmokeTest? SmokeTest)
{
    public static ModelCandidate FromManifest(string stagingFolder, BundleManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return manifest.Kind == BundleKind.Model
            ? new ModelCandidate(stagingFolder, manifest.Name, manifest.Version, manifest.SmokeTest)
            : throw new ArgumentException($"bundle {manifest.Name} {manifest.Version} is a {manifest.Kind} bundle, not a model", nameof(manifest));
    }
}

/// <summary>How an activation ended: <see cref="ActivationStates.Active"/> (maybe on probation) or a failure state with its reason.</summary>
internal sealed record ActivationResult(string State, string? Reason)
{
    public bool Activated => State == ActivationStates.Active;
}

/// <summary>"Load a model folder": the seam unit tests replace; the agent's loader is <see cref="AgentModelLoader"/>.</summary>
internal interface IModelLoader
{
    LocalModel Load(string folder);
}

/// <summary>Loads with the agent's settings; a synthesized model only with <c>Agent:AllowSynthesizedModel</c>.</summary>
internal sealed class AgentModelLoader(IOptions<AgentOptions> options, ILogger<AgentModelLoader> logger) : IModelLoader
{
    public LocalModel Load(string folder) =>
        ModelFolderInfo.IsSynthesized(folder) && !options.Value.AllowSynthesizedModel
            ? throw new InvalidOperationException("the model is synthesized (random weights) and Agent:AllowSynthesizedModel is false")
            : ActiveModel.LoadFolder(folder, options.Value, logger);
}

/// <summary>
/// Activates model slots without ever leaving the device without the model it had:
/// <list type="number">
/// <item><c>unpacking</c>: the verified staging folder is renamed into <c>models/NAME/VERSION/</c> (same filesystem, one rename).</item>
/// <item><c>loading</c>: the slot is loaded in a second session while the old model keeps serving.</item>
/// <item><c>smoke_test</c>: the manifest's prompts run on that session (<see cref="SmokeTest"/>).</item>
/// <item>switch: <c>models/previous</c> is pointed at the old slot, <c>models/active</c> at the new one (each one rename),
/// then <see cref="ActiveModel.SwitchTo"/> swaps the model for new requests; the old one is unloaded once idle.</item>
/// <item><c>active</c> on probation: an <c>internal</c> error among the first <see cref="ModelUpdateOptions.ProbationAnswers"/>
/// real answers (seen through <see cref="IRequestRecorder"/>) rolls back: the old slot is loaded again and switched to
/// while the new one keeps serving. After them the new slot is committed and the slot before the previous one deleted.</item>
/// </list>
/// Each step is written to <c>models/slots.json</c> before it starts. <see cref="Recover"/>, run at start before the model is
/// loaded, undoes an activation that crashed before its switch (the old link was never touched; the half-made slot is
/// deleted) and rolls back one that crashed after the switch but before probation ended: a restart during probation may
/// well be the new model's fault (a native crash, the OOM killer), and the previous slot is known to work. A first
/// install (no previous slot) is kept instead, as there is nothing to go back to.
/// </summary>
internal sealed class ModelActivator(
    ActiveModel active,
    IModelLoader loader,
    IActivationEvents events,
    IOptions<AgentOptions> agentOptions,
    IOptions<ModelUpdateOptions> options,
    TimeProvider time,
    ILogger<ModelActivator> logger,
    Metrics.AgentMetrics? metrics = null) : IRequestRecorder, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ModelSlots _slots = new(agentOptions.Value.DataDir);
    private Probation? _probation;

    public ModelSlots Slots => _slots;

    /// <summary>Completes with the outcome of the current probation (committed or rolled back); null when none runs.</summary>
    public Task<ActivationResult>? ProbationOutcome => Volatile.Read(ref _probation)?.Outcome.Task;

    /// <summary>Finishes or undoes an activation a crash interrupted. Touches only the disk; call before the model is loaded.</summary>
    public void Recover()
    {
        if (!Directory.Exists(_slots.Root))
        {
            return;
        }

        _slots.DeleteLeftovers();
        SlotState state;
        try
        {
            state = _slots.ReadState();
        }
        catch (InvalidDataException ex)
        {
            // The links say what is served; only the record of an activation in progress is lost.
            UpdateLog.StateRebuilt(logger, ex.Message);
            state = new SlotState { Active = _slots.ReadLink(ModelSlots.ActiveLink), Previous = _slots.ReadLink(ModelSlots.PreviousLink) };
            _slots.WriteState(state);
        }

        if (state.Pending is not { } pending)
        {
            if (_slots.ReadLink(ModelSlots.ActiveLink) is null && state.Active is { } committed && _slots.IsComplete(committed))
            {
                _slots.SetLink(ModelSlots.ActiveLink, committed);
            }

            return;
        }

        var switched = !ActivationSteps.BeforeSwitch(pending.Step) && _slots.ReadLink(ModelSlots.ActiveLink) == pending.Slot;
        if (switched && pending is { Step: ActivationSteps.Probation, StoppedCleanly: true } && state.Active is not null)
        {
            // A normal stop (a reboot, a configuration change) says nothing against the model: probation goes on, and a
            // crash from now on counts again.
            var resumed = pending with { StoppedCleanly = false };
            _slots.WriteState(state with { Pending = resumed });
            Volatile.Write(ref _probation, new Probation(state, resumed, Math.Max(1, pending.ProbationLeft)));
            UpdateLog.ProbationResumed(logger, pending.Slot.ToString(), pending.ProbationLeft);
            return;
        }

        if (switched && state.Active is null)
        {
            UpdateLog.RecoveredKept(logger, pending.Slot.ToString(), pending.Step);
            Commit(state, pending.Slot);
            return;
        }

        var reason = switched
            ? $"the agent restarted before {pending.Slot} passed probation"
            : $"the agent stopped during {pending.Step} of {pending.Slot}";
        UpdateLog.RecoveredUndone(logger, pending.Slot.ToString(), pending.Step, reason);
        Undo(state, pending, ActivationStates.RolledBack, reason);
    }

    /// <summary>
    /// Activates <paramref name="candidate"/>; returns once it serves (on probation) or has been refused, with the old
    /// model serving throughout. One activation at a time; refused while another one is on probation.
    /// </summary>
    public async Task<ActivationResult> ActivateAsync(ModelCandidate candidate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var slot = new SlotRef(candidate.Name, candidate.Version);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        LocalModel? loaded = null;
        try
        {
            if (Refusal(slot) is { } refused)
            {
                return Fail(slot, ActivationStates.RolledBack, refused);
            }

            var state = _slots.ReadState();
            if (state.Active == slot && _slots.ReadLink(ModelSlots.ActiveLink) == slot)
            {
                Report(slot, ActivationStates.Active, "already active");
                return new ActivationResult(ActivationStates.Active, "already active");
            }

            // The committed slots are never replaced by a staged copy: one of them named again is activated as it is.
            var reused = (state.Previous == slot || state.Active == slot) && _slots.IsComplete(slot);
            var pending = new PendingActivation(slot, ActivationSteps.Unpacking, reused);
            _slots.WriteState(state with { Pending = pending });
            Report(slot, ActivationStates.Unpacking, null);
            try
            {
                try
                {
                    Unpack(candidate, slot, reused);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return Undo(state, pending, ActivationStates.RolledBack, $"the staged model cannot be moved into {_slots.PathOf(slot)} (staging must be on the data directory's filesystem): {ex.Message}");
                }

                pending = Step(state, pending, ActivationSteps.Loading);
                Report(slot, ActivationStates.Loading, null);
                try
                {
                    loaded = loader.Load(_slots.PathOf(slot));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    return Undo(state, pending, ActivationStates.LoadFailed, $"the model cannot be loaded: {ex.Message}");
                }

                pending = Step(state, pending, ActivationSteps.SmokeTest);
                Report(slot, ActivationStates.SmokeTest, null);
                string? failure;
                try
                {
                    failure = await SmokeTest.RunAsync(loaded, candidate.SmokeTest, time, adapter: null, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    failure = $"generation failed: {ex.Message}";
                }

                if (failure is not null)
                {
                    return Undo(state, pending, ActivationStates.SmokeTestFailed, failure);
                }
            }
            catch (OperationCanceledException)
            {
                Undo(state, pending, ActivationStates.RolledBack, "the activation was cancelled");
                throw;
            }

            pending = Step(state, pending, ActivationSteps.Switching);
            if (state.Active is { } old)
            {
                _slots.SetLink(ModelSlots.PreviousLink, old);
            }

            _slots.SetLink(ModelSlots.ActiveLink, slot);
            _ = active.SwitchTo(loaded, new ModelRef { Id = slot.Name, Version = slot.Version, Synthesized = loaded.Synthesized }, CancellationToken.None);
            loaded = null;
            var probation = options.Value.ProbationAnswers;
            if (state.Active is null || probation == 0)
            {
                Commit(state, slot);
                Report(slot, ActivationStates.Active, null);
                return new ActivationResult(ActivationStates.Active, null);
            }

            var onProbation = pending with { Step = ActivationSteps.Probation, ProbationLeft = probation };
            _slots.WriteState(state with { Pending = onProbation });
            Volatile.Write(ref _probation, new Probation(state, onProbation, probation));
            Report(slot, ActivationStates.Active, $"on probation for {probation} answers");
            return new ActivationResult(ActivationStates.Active, $"on probation for {probation} answers");
        }
        finally
        {
            loaded?.Dispose();
            _gate.Release();
        }
    }

    /// <summary>Counts the real answers of a model on probation; an <c>internal</c> error rolls it back.</summary>
    public void Completed(QueryLogEntry entry, bool failed, double tokensPerSecond)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (Volatile.Read(ref _probation) is not { } probation)
        {
            return;
        }

        if (entry.Outcome == ErrorCodes.Internal)
        {
            End(probation, $"a real answer failed with {ErrorCodes.Internal} during probation", rollBack: true);
        }
        else if (entry.Outcome is "stop" or "length" && Interlocked.Decrement(ref probation.Remaining) == 0)
        {
            End(probation, null, rollBack: false);
        }
    }

    /// <summary>
    /// The agent stops normally: a probation in progress is written down as interrupted by a clean stop, so the next
    /// start goes on with it instead of rolling back as after a crash.
    /// </summary>
    public async Task MarkStoppedAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _probation) is { } probation)
            {
                var left = Math.Max(1, Volatile.Read(ref probation.Remaining));
                _slots.WriteState(probation.State with { Pending = probation.Pending with { ProbationLeft = left, StoppedCleanly = true } });
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Refusals (busy, invalid requests) say nothing about the model.</summary>
    public void Refused(string code)
    {
    }

    public void Dispose() => _gate.Dispose();

    private string? Refusal(SlotRef slot)
    {
        var pinned = agentOptions.Value.Model;
        if (pinned is not null)
        {
            return $"Agent:Model is set ({pinned}): the device serves that folder, not models/active; remove the setting to let updates switch models";
        }

        if (Volatile.Read(ref _probation) is { } running)
        {
            return $"{running.Pending.Slot} is still on probation; activate again when it has been committed or rolled back";
        }

        return ModelSlots.RefuseName(slot);
    }

    private void Unpack(ModelCandidate candidate, SlotRef slot, bool reused)
    {
        var path = _slots.PathOf(slot);
        if (reused)
        {
            // The rollback slot is this very version: it stays as it is (it passed before) and the new copy goes.
            if (Directory.Exists(candidate.StagingFolder))
            {
                Directory.Delete(candidate.StagingFolder, recursive: true);
            }

            return;
        }

        if (Directory.Exists(path))
        {
            // Left by an earlier failed or superseded activation of the same version: never the active or previous slot here.
            Directory.Delete(path, recursive: true);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Directory.Move(candidate.StagingFolder, path);
    }

    private PendingActivation Step(SlotState state, PendingActivation pending, string step)
    {
        var next = pending with { Step = step };
        _slots.WriteState(state with { Pending = next });
        return next;
    }

    /// <summary>Before the switch, or to undo one: the committed links again, the new slot deleted (unless it is the rollback slot).</summary>
    private ActivationResult Undo(SlotState state, PendingActivation pending, string failedState, string reason)
    {
        if (failedState != ActivationStates.RolledBack)
        {
            Report(pending.Slot, failedState, reason);
        }

        _slots.SetLink(ModelSlots.ActiveLink, state.Active is { } a && _slots.IsComplete(a) ? a : null);
        _slots.SetLink(ModelSlots.PreviousLink, state.Previous is { } p && _slots.IsComplete(p) ? p : null);
        if (!pending.ReusedSlot && pending.Slot != state.Active && pending.Slot != state.Previous)
        {
            _slots.DeleteSlot(pending.Slot);
        }

        _slots.WriteState(state with { Pending = null, LastFailure = new ActivationFailure(pending.Slot, failedState, reason, time.GetUtcNow()) });
        return Fail(pending.Slot, ActivationStates.RolledBack, reason);
    }

    private ActivationResult Fail(SlotRef slot, string state, string reason)
    {
        UpdateLog.RolledBack(logger, slot.ToString(), reason);
        Report(slot, state, reason);
        return new ActivationResult(state, reason);
    }

    private void Commit(SlotState state, SlotRef slot)
    {
        _slots.WriteState(new SlotState { Active = slot, Previous = state.Active, LastFailure = state.LastFailure });
        _slots.SetLink(ModelSlots.PreviousLink, state.Active);
        if (state.Previous is { } older && older != slot && older != state.Active)
        {
            _slots.DeleteSlot(older);
        }
    }

    private void End(Probation probation, string? reason, bool rollBack)
    {
        if (Interlocked.CompareExchange(ref _probation, null, probation) != probation)
        {
            return;
        }

        // Off the request path: the dispatcher that reported the answer must not wait for a model load.
        _ = Task.Run(async () =>
        {
            try
            {
                probation.Outcome.TrySetResult(rollBack ? await RollBackAsync(probation, reason!).ConfigureAwait(false) : await CommitAsync(probation).ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                UpdateLog.ProbationEndFailed(logger, probation.Pending.Slot.ToString(), ex);
                probation.Outcome.TrySetException(ex);
            }
        });
    }

    private async Task<ActivationResult> CommitAsync(Probation probation)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            Commit(probation.State, probation.Pending.Slot);
            UpdateLog.Committed(logger, probation.Pending.Slot.ToString());
            Report(probation.Pending.Slot, ActivationStates.Committed, null);
            return new ActivationResult(ActivationStates.Active, null);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<ActivationResult> RollBackAsync(Probation probation, string reason)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        LocalModel? old = null;
        try
        {
            var back = probation.State.Active!;
            try
            {
                old = loader.Load(_slots.PathOf(back));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Nothing better to go back to: the new model keeps serving and is kept.
                Commit(probation.State, probation.Pending.Slot);
                return Fail(probation.Pending.Slot, ActivationStates.Active, $"{reason}, but {back} cannot be loaded again ({ex.Message}); keeping {probation.Pending.Slot}");
            }

            _ = active.SwitchTo(old, new ModelRef { Id = back.Name, Version = back.Version, Synthesized = old.Synthesized }, CancellationToken.None);
            old = null;
            return Undo(probation.State, probation.Pending, ActivationStates.RolledBack, reason);
        }
        finally
        {
            old?.Dispose();
            _gate.Release();
        }
    }

    private void Report(SlotRef slot, string state, string? reason)
    {
        if (state is ActivationStates.Active or ActivationStates.Committed or ActivationStates.RolledBack or ActivationStates.LoadFailed or ActivationStates.SmokeTestFailed)
        {
            metrics?.Activation(state);
        }

        events.Report(new ActivationEvent(slot.Name, slot.Version, state, reason, time.GetUtcNow()));
    }

    private sealed class Probation(SlotState state, PendingActivation pending, int answers)
    {
        public int Remaining = answers;

        public SlotState State { get; } = state;
        public PendingActivation Pending { get; } = pending;
        public TaskCompletionSource<ActivationResult> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
