using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Scheduling;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Models;

/// <summary>
/// The model the agent answers with, loaded before the agent reports ready, or the settled decision to run without
/// one (retrieval-only). Owns the <see cref="LocalModel"/> and disposes it after the host has stopped every request.
/// </summary>
/// <remarks>
/// Hot switch (<see cref="SwitchTo"/>): the model and its <see cref="Ref"/> are one immutable pair swapped in one
/// reference write, so a request that reads <see cref="Current"/> once sees one model from start to end; requests that
/// begin after the switch get the new one. The old model is disposed only once nothing can still use it: after
/// <see cref="RetireGrace"/> (which covers a reader that took the old reference and has not yet entered the scheduler),
/// every <see cref="Acquire"/> lease returned, and its scheduler with nothing running or waiting.
/// </remarks>
internal sealed class ActiveModel(IOptions<AgentOptions> options, ILogger<ActiveModel> logger, TimeProvider? time = null, Metrics.AgentMetrics? metrics = null) : IHostedLifecycleService, IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<Loaded> _retiring = [];
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private Loaded? _current;
    private bool _disposed;

    /// <summary>A model with the reference answers report; immutable, swapped as a whole.</summary>
    internal sealed class Loaded
    {
        private readonly Action<RequestScheduler> _onChanged;
        private int _leases;

        internal Loaded(LocalModel model, ModelRef reference, Action onQueueChanged)
        {
            Model = model;
            Ref = reference;
            _onChanged = _ => onQueueChanged();
            model.Scheduler.Changed += _onChanged;
        }

        public LocalModel Model { get; }
        public ModelRef Ref { get; }

        internal bool Idle => Volatile.Read(ref _leases) == 0 && Model.Scheduler.Running == 0 && Model.Scheduler.QueueDepth == 0;

        internal void AddLease() => Interlocked.Increment(ref _leases);

        internal void ReleaseLease()
        {
            if (Interlocked.Decrement(ref _leases) == 0)
            {
                LeasesEnded?.Invoke();
            }
        }

        /// <summary>Raised when the last lease ends.</summary>
        internal event Action? LeasesEnded;

        internal void Detach() => Model.Scheduler.Changed -= _onChanged;
    }

    /// <summary>The loaded model, or null in retrieval-only mode. Read it once per request (or use <see cref="Acquire"/>).</summary>
    public LocalModel? Model => Volatile.Read(ref _current)?.Model;

    /// <summary>The model with its reference as one pair, or null in retrieval-only mode.</summary>
    public Loaded? Current => Volatile.Read(ref _current);

    /// <summary>Why there is no model (for logs and the <c>model_unavailable</c> message); null with a model.</summary>
    public string? UnavailableReason { get; private set; }

    /// <summary>The model's id and version for answers and status; null in retrieval-only mode.</summary>
    public ModelRef? Ref => Volatile.Read(ref _current)?.Ref;

    /// <summary>How long a replaced model stays loaded at least after a switch. Default 1 s.</summary>
    internal TimeSpan RetireGrace { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Raised when the scheduler's queue changes, and after a switch, to refresh the status.</summary>
    public event Action? QueueChanged;

    /// <summary>The current model held until the lease is disposed (a switch does not dispose it meanwhile); null without a model.</summary>
    public ModelLease? Acquire()
    {
        lock (_gate)
        {
            if (_current is not { } loaded)
            {
                return null;
            }

            loaded.AddLease();
            return new ModelLease(loaded);
        }
    }

    /// <summary>
    /// Makes <paramref name="model"/> the one new requests get (ownership passes to this class). Returns when the model
    /// it replaced has been disposed (at once when there was none); requests already running on it finish on it.
    /// </summary>
    public Task SwitchTo(LocalModel model, ModelRef reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        Loaded? old;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            old = _current;
            Volatile.Write(ref _current, new Loaded(model, reference, () => QueueChanged?.Invoke()));
            UnavailableReason = null;
            if (old is not null)
            {
                _retiring.Add(old);
            }
        }

        metrics?.ModelLoad(Metrics.ModelLoadOutcomes.Switched);
        ModelLog.Switched(logger, reference.Id, reference.Version, old?.Ref.Id ?? "(none)", old?.Ref.Version ?? "");
        QueueChanged?.Invoke();
        return old is null ? Task.CompletedTask : RetireAsync(old, cancellationToken);
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var explicitFolder = o.Model is { } m && m != AgentOptions.NoModel ? m : null;
        if (o.Model == AgentOptions.NoModel)
        {
            Settle("the agent is configured without a model (Agent:Model = none)");
            return Task.CompletedTask;
        }

        var folder = explicitFolder ?? o.ActiveModelPath;
        if (explicitFolder is null && !Directory.Exists(folder))
        {
            Settle($"no model is installed ({folder} does not exist)");
            return Task.CompletedTask;
        }

        if (explicitFolder is null && ModelFolderInfo.IsSynthesized(folder) && !o.AllowSynthesizedModel)
        {
            Settle($"the model in {folder} is synthesized (random weights) and Agent:AllowSynthesizedModel is false");
            return Task.CompletedTask;
        }

        LocalModel model;
        try
        {
            model = LoadFolder(folder, o, logger);
        }
        catch (ModelFolderException ex) when (explicitFolder is null)
        {
            // The installed model is broken: keep the device answering what it can instead of failing to start.
            Settle($"the model in {folder} cannot be loaded: {ex.Message}");
            return Task.CompletedTask;
        }

        var reference = RefOf(folder, model);
        Volatile.Write(ref _current, new Loaded(model, reference, () => QueueChanged?.Invoke()));
        metrics?.ModelLoad(Metrics.ModelLoadOutcomes.Loaded);
        Log.ModelLoaded(logger, reference.Id, reference.Version, model.Model.ActiveProvider.Name);
        if (model.Synthesized)
        {
            Log.SynthesizedModel(logger, folder);
        }

        return Task.CompletedTask;
    }

    /// <summary>Loads a model folder with the agent's runtime and scheduler settings (CPU, Agent:Threads, queue limits).</summary>
    internal static LocalModel LoadFolder(string folder, AgentOptions o, ILogger logger)
    {
        var runtime = new RuntimeOptions { ProviderPolicy = Runtime.Providers.ProviderPolicy.CpuOnly, IntraOpNumThreads = o.Threads == 0 ? null : o.Threads };
        var scheduler = new SchedulerOptions { QueueCapacity = o.QueueCapacity, MaxConcurrency = o.MaxConcurrency };
        return LocalModel.Load(folder, runtime, scheduler, logger);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        List<Loaded> all;
        lock (_gate)
        {
            _disposed = true;
            all = [.. _retiring];
            if (_current is { } current)
            {
                all.Add(current);
            }

            _retiring.Clear();
        }

        // The host has stopped every request by now.
        foreach (var loaded in all)
        {
            loaded.Detach();
            loaded.Model.Dispose();
        }
    }

    private async Task RetireAsync(Loaded old, CancellationToken cancellationToken)
    {
        if (RetireGrace > TimeSpan.Zero)
        {
            await Task.Delay(RetireGrace, _time, cancellationToken).ConfigureAwait(false);
        }

        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(RequestScheduler _)
        {
            if (old.Idle)
            {
                idle.TrySetResult();
            }
        }

        void CheckLeases() => Check(old.Model.Scheduler);
        old.Model.Scheduler.Changed += Check;
        old.LeasesEnded += CheckLeases;
        try
        {
            CheckLeases();
            await idle.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            old.Model.Scheduler.Changed -= Check;
            old.LeasesEnded -= CheckLeases;
        }

        lock (_gate)
        {
            if (!_retiring.Remove(old))
            {
                return; // Disposed with the container meanwhile.
            }
        }

        old.Detach();
        old.Model.Dispose();
        ModelLog.Retired(logger, old.Ref.Id, old.Ref.Version);
    }

    private void Settle(string reason)
    {
        UnavailableReason = reason;
        metrics?.ModelLoad(Metrics.ModelLoadOutcomes.RetrievalOnly);
        Log.RetrievalOnly(logger, reason);
    }

    /// <summary>
    /// Models are installed as <c>models/NAME/VERSION/</c> (with <c>models/active</c> pointing at one); any other
    /// folder is its own name with no version.
    /// </summary>
    internal static ModelRef RefOf(string folder, LocalModel model)
    {
        var resolved = new DirectoryInfo(folder).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(folder);
        resolved = Path.TrimEndingDirectorySeparator(resolved);
        var parent = Path.GetDirectoryName(resolved);
        var grandParent = parent is null ? null : Path.GetFileName(Path.GetDirectoryName(parent));
        // A slot's version is what the fleet asked for, synthesized or not (the flag says so); a loose folder has none.
        var (id, version) = grandParent == "models"
            ? (Path.GetFileName(parent)!, Path.GetFileName(resolved))
            : (Path.GetFileName(resolved), model.Synthesized ? "synthesized" : "unversioned");
        return new ModelRef { Id = id, Version = version, Synthesized = model.Synthesized };
    }
}

/// <summary>Holds a model against disposal by a switch until disposed.</summary>
internal sealed class ModelLease : IDisposable
{
    private ActiveModel.Loaded? _loaded;

    internal ModelLease(ActiveModel.Loaded loaded) => _loaded = loaded;

    public LocalModel Model => (_loaded ?? throw new ObjectDisposedException(nameof(ModelLease))).Model;

    public ModelRef Ref => (_loaded ?? throw new ObjectDisposedException(nameof(ModelLease))).Ref;

    public void Dispose() => Interlocked.Exchange(ref _loaded, null)?.ReleaseLease();
}
