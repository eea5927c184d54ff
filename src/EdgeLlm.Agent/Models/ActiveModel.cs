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
internal sealed class ActiveModel(IOptions<AgentOptions> options, ILogger<ActiveModel> logger) : IHostedLifecycleService, IDisposable
{
    private LocalModel? _model;

    /// <summary>The loaded model, or null in retrieval-only mode.</summary>
    public LocalModel? Model => _model;

    /// <summary>Why there is no model (for logs and the <c>model_unavailable</c> message); null with a model.</summary>
    public string? UnavailableReason { get; private set; }

    /// <summary>The model's id and version for answers and status; null in retrieval-only mode.</summary>
    public ModelRef? Ref { get; private set; }

    /// <summary>Raised when the scheduler's queue changes, to refresh the status.</summary>
    public event Action? QueueChanged;

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

        var runtime = new RuntimeOptions { ProviderPolicy = Runtime.Providers.ProviderPolicy.CpuOnly, IntraOpNumThreads = o.Threads == 0 ? null : o.Threads };
        var scheduler = new SchedulerOptions { QueueCapacity = o.QueueCapacity, MaxConcurrency = o.MaxConcurrency };
        try
        {
            _model = LocalModel.Load(folder, runtime, scheduler, logger);
        }
        catch (ModelFolderException ex) when (explicitFolder is null)
        {
            // The installed model is broken: keep the device answering what it can instead of failing to start.
            Settle($"the model in {folder} cannot be loaded: {ex.Message}");
            return Task.CompletedTask;
        }

        _model.Scheduler.Changed += _ => QueueChanged?.Invoke();
        Ref = RefOf(folder, _model);
        Log.ModelLoaded(logger, Ref.Id, Ref.Version, _model.Model.ActiveProvider.Name);
        if (_model.Synthesized)
        {
            Log.SynthesizedModel(logger, folder);
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _model?.Dispose();

    private void Settle(string reason)
    {
        UnavailableReason = reason;
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
        var (id, version) = grandParent == "models"
            ? (Path.GetFileName(parent)!, Path.GetFileName(resolved))
            : (Path.GetFileName(resolved), "unversioned");
        return new ModelRef { Id = id, Version = model.Synthesized ? "synthesized" : version };
    }
}
