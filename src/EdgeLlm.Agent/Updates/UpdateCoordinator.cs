using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>The coordinating half of the <c>Updates</c> section: which publishers to trust, where to look for bundles.</summary>
internal sealed class UpdateCoordinatorOptions
{
    public const string Section = "Updates";

    /// <summary>PEM files of the publisher public keys bundles must be signed by (several to rotate keys). Default none: every bundle is refused.</summary>
    public IList<string> TrustedKeys { get; } = [];

    /// <summary>A folder (a mounted USB stick) scanned for <c>*.edgebundle</c> files not imported yet; never written to. Default none.</summary>
    public string? ImportFolder { get; set; }

    /// <summary>How often the desired state and the import folder are looked at, in seconds. Default 10.</summary>
    [Range(1, 86_400)]
    public int CheckIntervalSeconds { get; set; } = 10;

    /// <summary>
    /// An executable run before each step of an update, with the state, the bundle's name and version as arguments
    /// (<c>loading tiny 2.0.0</c>): a site's hook to log, to hand a line over to manual mode during a model switch, or to
    /// stop the device at a step in an acceptance test. The update waits for it (at most
    /// <see cref="StateScriptTimeoutSeconds"/>); its exit code is logged, not obeyed. Default none.
    /// </summary>
    public string? StateScript { get; set; }

    /// <summary>How long a state script may run before it is killed, in seconds. Default 30.</summary>
    [Range(1, 3600)]
    public int StateScriptTimeoutSeconds { get; set; } = 30;
}

[OptionsValidator]
internal sealed partial class UpdateCoordinatorOptionsValidator : IValidateOptions<UpdateCoordinatorOptions>;

/// <summary>Every trusted key file (and the state script) must exist: a typo would otherwise refuse every update, silently until one comes.</summary>
internal sealed class UpdateCoordinatorOptionsRules : IValidateOptions<UpdateCoordinatorOptions>
{
    public ValidateOptionsResult Validate(string? name, UpdateCoordinatorOptions options)
    {
        var missing = options.TrustedKeys.Where(k => !File.Exists(k)).Select(k => $"Updates:TrustedKeys: {k} does not exist").ToList();
        if (options.StateScript is { } script && !File.Exists(script))
        {
            missing.Add($"Updates:StateScript: {script} does not exist");
        }

        return missing.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(missing);
    }
}

/// <summary>The model, adapter and config bundle the fleet wants the device to run (the seam unit tests replace; the agent's is <see cref="DesiredStateSync"/>).</summary>
internal interface IDesiredModel
{
    ArtifactRef? DesiredModel { get; }

    /// <summary>The adapter to apply to answers (the first of the desired state's adapters), or null.</summary>
    ArtifactRef? DesiredAdapter => null;

    /// <summary>The config bundle whose overlay the device's configuration should load, or null.</summary>
    ArtifactRef? DesiredConfig => null;
}

/// <summary>Brings a bundle named by its SHA-256 into the device's staging folder; returns its path.</summary>
internal interface IBundleFetcher
{
    /// <exception cref="DownloadFailedException">The bundle cannot be had.</exception>
    Task<string> FetchAsync(string sha256, CancellationToken cancellationToken);
}

/// <summary>Downloads from the device's fleet server with its credential (<see cref="Downloader"/>, resumable).</summary>
internal sealed class FleetBundleFetcher(FleetLink link, Downloader downloader, IOptions<AgentOptions> agent) : IBundleFetcher
{
    public Task<string> FetchAsync(string sha256, CancellationToken cancellationToken) =>
        link.Refresh() is { } credentials && !link.Refused
            ? downloader.DownloadAsync(credentials, agent.Value.DataDir, sha256, cancellationToken)
            : throw new DownloadFailedException("the device is not enrolled with a fleet server, or its credential was refused");
}

/// <summary>
/// Applies model updates, one at a time, from two sources: the fleet's desired state (a model with a SHA-256 that is not
/// the active one nor the slot of the last failed activation is downloaded, then installed) and the import folder (each
/// <c>*.edgebundle</c> whose SHA-256 was never imported, remembered in agent.db, installed as it lies). Both go through
/// <see cref="ImportPipeline"/>; the steps reach the fleet and MQTT through <see cref="IActivationEvents"/>.
/// </summary>
internal sealed class UpdateCoordinator : AgentService
{
    public const string ImportedKey = "updates_imported";
    public const string RefusedKey = "updates_refused";
    public const string RefusedAdapterKey = "updates_refused_adapter";
    public const string RefusedConfigKey = "updates_refused_config";
    private const int RememberImports = 200;

    private readonly IDesiredModel _desired;
    private readonly IBundleFetcher _fetcher;
    private readonly ModelActivator _activator;
    private readonly ActiveAdapter? _adapters;
    private readonly ConfigSlots? _configs;
    private readonly IActivationEvents _events;
    private readonly Outbox _state;
    private readonly Func<DeviceResources> _resources;
    private readonly UpdateCoordinatorOptions _options;
    private readonly string _dataDir;
    private readonly TimeProvider _time;
    private readonly ILogger<UpdateCoordinator> _logger;
    private readonly BundleTrust _trust;
    private readonly ImportPipeline _pipeline;
    private readonly Dictionary<(string Path, long Length, DateTime Modified), string> _hashes = [];

    public UpdateCoordinator(
        IDesiredModel desired,
        IBundleFetcher fetcher,
        ModelActivator activator,
        IEnumerable<IBundleInstaller> installers,
        ActiveAdapter adapters,
        ConfigBundleInstaller configs,
        IActivationEvents events,
        Outbox state,
        IDeviceProbe probe,
        IOptions<UpdateCoordinatorOptions> options,
        IOptions<AgentOptions> agent,
        TimeProvider time,
        ILogger<UpdateCoordinator> logger)
        : this(desired, fetcher, activator, events, state, () => DeviceResources.Of(probe), options.Value, agent.Value.DataDir, time, logger, installers, adapters, configs.Slots)
    {
    }

    internal UpdateCoordinator(
        IDesiredModel desired,
        IBundleFetcher fetcher,
        ModelActivator activator,
        IActivationEvents events,
        Outbox state,
        Func<DeviceResources> resources,
        UpdateCoordinatorOptions options,
        string dataDir,
        TimeProvider time,
        ILogger<UpdateCoordinator> logger,
        IEnumerable<IBundleInstaller>? installers = null,
        ActiveAdapter? adapters = null,
        ConfigSlots? configs = null)
    {
        (_desired, _fetcher, _activator, _events, _state, _resources, _options, _dataDir, _time, _logger, _adapters, _configs) =
            (desired, fetcher, activator, events, state, resources, options, dataDir, time, logger, adapters, configs);
        _trust = BundleTrust.Load(options.TrustedKeys);
        _pipeline = new ImportPipeline(_trust, activator, installers ?? [], events, dataDir, time);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await StepAsync(stoppingToken).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromSeconds(_options.CheckIntervalSeconds), _time, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>One look at the desired state (the model first, then the adapter for it, then the config bundle), then at the import folder; returns what was installed (for tests and logs).</summary>
    public async Task<IReadOnlyList<ImportResult>> StepAsync(CancellationToken cancellationToken)
    {
        var results = new List<ImportResult>();
        if (_desired.DesiredModel is { Sha256: { } sha } want && WantedModel(want, sha)
            && await FromFleetAsync(want, sha, RefusedKey, cancellationToken).ConfigureAwait(false) is { } fleet)
        {
            results.Add(fleet);
        }

        if (_desired.DesiredAdapter is { Sha256: { } adapterSha } adapter && WantedAdapter(adapter, adapterSha)
            && await FromFleetAsync(adapter, adapterSha, RefusedAdapterKey, cancellationToken).ConfigureAwait(false) is { } installed)
        {
            results.Add(installed);
        }

        if (_desired.DesiredConfig is { Sha256: { } configSha } config && WantedConfig(config, configSha)
            && await FromFleetAsync(config, configSha, RefusedConfigKey, cancellationToken).ConfigureAwait(false) is { } configured)
        {
            results.Add(configured);
        }

        results.AddRange(await FromImportFolderAsync(cancellationToken).ConfigureAwait(false));
        return results;
    }

    public override void Dispose()
    {
        _trust.Dispose();
        base.Dispose();
    }

    private async Task<ImportResult?> FromFleetAsync(ArtifactRef want, string sha, string refusedKey, CancellationToken cancellationToken)
    {
        string path;
        try
        {
            path = await _fetcher.FetchAsync(sha, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DownloadFailedException or HttpRequestException or IOException)
        {
            // Tried again at the next look: a later attempt resumes the part file.
            CoordinatorLog.FetchFailed(_logger, want.Name, want.Version, ex.Message);
            _events.Report(new ActivationEvent(want.Name, want.Version, UpdateStates.DownloadFailed, ex.Message, _time.GetUtcNow()));
            return null;
        }

        var result = await _pipeline.InstallAsync(path, sha, want, _resources(), cancellationToken).ConfigureAwait(false);
        if ((result.State == UpdateStates.Refused && result.Reason?.StartsWith(AdapterRefusals.NoBaseModel, StringComparison.Ordinal) != true)
            || (refusedKey == RefusedConfigKey && !result.Activated))
        {
            // Never fetched again; an adapter waiting for its base model is tried again once one serves. A config bundle keeps
            // no failure record of its own, so one rolled back is not tried again either.
            _state.SetState(refusedKey, sha);
        }

        // The downloaded copy has served its purpose: the slot holds the model now, or it was refused.
        File.Delete(path);
        CoordinatorLog.Installed(_logger, "the fleet", result.Name, result.Version, result.Text);
        return result;
    }

    private bool WantedModel(ArtifactRef want, string sha)
    {
        var slot = new SlotRef(want.Name, want.Version);
        var state = _activator.Slots.ReadState();
        return state.Active != slot && state.Pending?.Slot != slot && state.LastFailure?.Slot != slot && _state.GetState(RefusedKey) != sha;
    }

    private bool WantedAdapter(ArtifactRef want, string sha)
    {
        if (_adapters is null)
        {
            return false;
        }

        AdapterState state;
        try
        {
            state = _adapters.Slots.ReadState();
        }
        catch (InvalidDataException)
        {
            state = new AdapterState();
        }

        var slot = new SlotRef(want.Name, want.Version);
        var current = _adapters.Current;
        return (current is null || current.Name != want.Name || current.Version != want.Version)
            && state.LastFailure?.Slot != slot && _state.GetState(RefusedAdapterKey) != sha;
    }

    private bool WantedConfig(ArtifactRef want, string sha) =>
        _configs is not null && _configs.Active != new SlotRef(want.Name, want.Version) && _state.GetState(RefusedConfigKey) != sha;

    private async Task<IReadOnlyList<ImportResult>> FromImportFolderAsync(CancellationToken cancellationToken)
    {
        if (_options.ImportFolder is not { } folder || !Directory.Exists(folder))
        {
            return [];
        }

        var results = new List<ImportResult>();
        var imported = Imported();
        try
        {
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*" + Downloader.BundleExtension).OrderBy(f => f.Name, StringComparer.Ordinal))
            {
                var key = (file.FullName, file.Length, file.LastWriteTimeUtc);
                if (!_hashes.TryGetValue(key, out var sha))
                {
                    sha = await ImportPipeline.HashFileAsync(file.FullName, cancellationToken).ConfigureAwait(false);
                    _hashes[key] = sha;
                }

                if (imported.Contains(sha))
                {
                    continue;
                }

                var result = await _pipeline.InstallAsync(file.FullName, sha, null, _resources(), cancellationToken).ConfigureAwait(false);
                imported.Add(sha);
                _state.SetState(ImportedKey, JsonSerializer.Serialize(imported.TakeLast(RememberImports).ToList(), UpdateJsonContext.Default.ListString));
                CoordinatorLog.Installed(_logger, file.FullName, result.Name, result.Version, result.Text);
                results.Add(result);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The stick was pulled mid-scan, or a file is unreadable: the next scan tries again.
            CoordinatorLog.ImportScanFailed(_logger, folder, ex.Message);
        }

        return results;
    }

    private List<string> Imported()
    {
        try
        {
            return _state.GetState(ImportedKey) is { } json ? JsonSerializer.Deserialize(json, UpdateJsonContext.Default.ListString) ?? [] : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }
}

/// <summary>Log lines of the update coordinator.</summary>
internal static partial class CoordinatorLog
{
    [LoggerMessage(430, LogLevel.Warning, "Model update {Name} {Version}: the bundle cannot be fetched yet ({Error}); trying again later")]
    public static partial void FetchFailed(ILogger logger, string name, string version, string error);

    [LoggerMessage(431, LogLevel.Information, "Model update from {Source}: {Name} {Version}: {Outcome}")]
    public static partial void Installed(ILogger logger, string source, string name, string version, string outcome);

    [LoggerMessage(432, LogLevel.Warning, "Import folder {Folder}: scan failed ({Error}); trying again later")]
    public static partial void ImportScanFailed(ILogger logger, string folder, string error);

    [LoggerMessage(433, LogLevel.Warning, "Model update event {State} could not be sent to {Target}: {Error}")]
    public static partial void EventNotSent(ILogger logger, string state, string target, string error);
}
