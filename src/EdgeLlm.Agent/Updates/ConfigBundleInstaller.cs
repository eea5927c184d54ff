using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Bundles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>Refusal and reason codes of config bundles.</summary>
internal static class ConfigRefusals
{
    /// <summary>The overlay is not one the agent can run with; the rest of the reason names the key and the problem.</summary>
    public const string InvalidConfig = "invalid_config";

    /// <summary>The overlay could not be written or switched in (a full disk, a read-only data directory); nothing changed.</summary>
    public const string InstallFailed = "install_failed";

    /// <summary>The version is installed with another overlay.</summary>
    public const string VersionConflict = "version_conflict";

    /// <summary>The overlay changes settings the running agent read at start: they take effect at its next start.</summary>
    public const string RestartRequired = "restart_required";
}

/// <summary>
/// Installs a config bundle: one <c>agent.json</c>, a partial overlay of the device's configuration file.
/// <list type="number">
/// <item>Checks, before anything is written outside staging: the overlay itself (<see cref="ConfigOverlay"/>: size, JSON,
/// known sections and keys, value shapes, the deny-list), then the whole configuration the next start would read with
/// it (<see cref="AgentHost.AddAgentConfiguration"/>) bound and validated by every options validator
/// (<see cref="AgentConfigSchema"/>). Any problem is <c>refused: invalid_config: …</c>.</item>
/// <item><c>unpacking</c>: the overlay is written to <c>config/NAME/VERSION/agent.json</c> (temp file, fsync, rename).</item>
/// <item>The switch: <c>config/previous</c> is pointed at the old overlay, then <c>config/active</c> at the new one, each by
/// one rename (<see cref="SlotLinks"/>): that rename is the commit point, so a crash leaves the old overlay or the new one
/// active, and a slot nothing points at, which the next start deletes.</item>
/// <item><c>smoke_test</c>: the configuration is read again through the link and validated; a failure points the links
/// back (<c>rolled_back: …</c>).</item>
/// <item><c>active</c>, with <c>restart_required: KEYS</c> when the effective value of any key changed: the agent's options
/// are read at start, so the new values take effect at its next start (<c>systemctl restart edgellm-agent</c>).</item>
/// </list>
/// The same name, version and overlay again is a no-op (<c>active: already active</c>); the same version with another
/// overlay is refused. Only the active and the previous slot are kept.
/// </summary>
internal sealed class ConfigBundleInstaller : IBundleInstaller, IDisposable
{
    private readonly ConfigSlots _slots;
    private readonly Func<string?, IConfiguration> _load;
    private readonly IActivationEvents _events;
    private readonly TimeProvider _time;
    private readonly ILogger<ConfigBundleInstaller> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public ConfigBundleInstaller(IOptions<AgentOptions> agent, AgentSwitches switches, IActivationEvents events, TimeProvider time, ILogger<ConfigBundleInstaller> logger)
        : this(new ConfigSlots(agent.Value.DataDir), Loader(switches), events, time, logger)
    {
    }

    /// <param name="slots">The data directory's config slots.</param>
    /// <param name="load">Reads the agent's configuration with the given overlay file (null: none), as the host does.</param>
    /// <param name="events">Where the steps are reported.</param>
    /// <param name="time">The clock of the events.</param>
    /// <param name="logger">The log.</param>
    internal ConfigBundleInstaller(ConfigSlots slots, Func<string?, IConfiguration> load, IActivationEvents events, TimeProvider time, ILogger<ConfigBundleInstaller> logger) =>
        (_slots, _load, _events, _time, _logger) = (slots, load, events, time, logger);

    public BundleKind Kind => BundleKind.Config;

    public ConfigSlots Slots => _slots;

    /// <summary>The host's configuration with an explicit overlay: the same sources, in the same order, as <c>edgellm agent</c> with these switches.</summary>
    public static Func<string?, IConfiguration> Loader(AgentSwitches switches) =>
        overlay => new ConfigurationBuilder().AddAgentConfiguration(switches, _ => overlay).Build();

    public async Task<ActivationResult> InstallAsync(string stagingFolder, BundleManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stagingFolder);
        ArgumentNullException.ThrowIfNull(manifest);
        var slot = new SlotRef(manifest.Name, manifest.Version);
        if (manifest.Files.Count != 1 || manifest.Files[0].Path != ConfigSlots.OverlayFile)
        {
            return Finish(slot, UpdateStates.Refused,
                $"{ConfigRefusals.InvalidConfig}: a config bundle carries exactly one file, {ConfigSlots.OverlayFile}; {manifest.Name} {manifest.Version} has {string.Join(", ", manifest.Files.Select(f => f.Path))}");
        }

        if (manifest.Files[0].Size > ConfigOverlay.MaxBytes)
        {
            return Finish(slot, UpdateStates.Refused, $"{ConfigRefusals.InvalidConfig}: {ConfigSlots.OverlayFile} is {manifest.Files[0].Size} bytes, more than the {ConfigOverlay.MaxBytes} a config overlay may have");
        }

        var candidate = Path.Combine(stagingFolder, ConfigSlots.OverlayFile);
        var bytes = await File.ReadAllBytesAsync(candidate, cancellationToken).ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var keys = new List<string>();
            if ((ConfigOverlay.Check(bytes, keys) ?? Problem(candidate)) is { } invalid)
            {
                return Finish(slot, UpdateStates.Refused, $"{ConfigRefusals.InvalidConfig}: {invalid}");
            }

            var (active, previous) = (_slots.Active, _slots.Previous);
            var target = _slots.FileOf(slot);
            var installed = (slot == active || slot == previous) && File.Exists(target);
            if (installed && !bytes.AsSpan().SequenceEqual(File.ReadAllBytes(target)))
            {
                return Finish(slot, UpdateStates.Refused,
                    $"{ConfigRefusals.VersionConflict}: config {slot} is installed with another overlay; publish the change as a new version");
            }

            if (slot == active && installed)
            {
                return Finish(slot, ActivationStates.Active, "already active");
            }

            var before = LoadOrEmpty(_slots.FileIfPresent(active));
            Report(slot, ActivationStates.Unpacking, null);
            try
            {
                if (!installed)
                {
                    DurableFile.Replace(target, stream => stream.Write(bytes));
                }

                _slots.Switch(slot, active);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _slots.Revert(active, previous);
                _slots.DeleteLeftovers();
                return Finish(slot, ActivationStates.RolledBack, $"{ConfigRefusals.InstallFailed}: the overlay cannot be written under {_slots.Root}: {ex.Message}");
            }
            Report(slot, ActivationStates.SmokeTest, null);
            if (Problem(_slots.ActiveFile) is { } failure)
            {
                _slots.Revert(active, previous);
                _slots.DeleteLeftovers();
                return Finish(slot, ActivationStates.RolledBack, $"{ConfigRefusals.InvalidConfig}: the agent's configuration with the new overlay does not validate: {failure}");
            }

            _slots.DeleteLeftovers();
            var changed = Changed(before, _load(target), keys.Concat(OverlayKeys(active)));
            ConfigLog.Installed(_logger, slot.Name, slot.Version, changed.Count == 0 ? "no effective change" : string.Join(", ", changed));
            return Finish(slot, ActivationStates.Active,
                changed.Count == 0 ? null : $"{ConfigRefusals.RestartRequired}: {string.Join(", ", changed)} take effect at the agent's next start");
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>The configuration the agent runs with now; an overlay that no longer reads (edited by hand) counts as none.</summary>
    private IConfiguration LoadOrEmpty(string? overlay)
    {
        try
        {
            return _load(overlay);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException)
        {
            return _load(null);
        }
    }

    /// <summary>Why the configuration with <paramref name="overlay"/> would not start the agent, or null.</summary>
    private string? Problem(string? overlay)
    {
        IConfiguration configuration;
        try
        {
            configuration = _load(overlay);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException)
        {
            return ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message;
        }

        var failures = AgentConfigSchema.Validate(configuration);
        return failures.Count == 0 ? null : string.Join("; ", failures);
    }

    /// <summary>The keys the old overlay set: removing one of them changes its value back to the device file's.</summary>
    private List<string> OverlayKeys(SlotRef? active)
    {
        var keys = new List<string>();
        if (_slots.FileIfPresent(active) is { } file)
        {
            _ = ConfigOverlay.Check(File.ReadAllBytes(file), keys);
        }

        return keys;
    }

    private static List<string> Changed(IConfiguration before, IConfiguration after, IEnumerable<string> keys) =>
        [.. keys.Distinct(StringComparer.OrdinalIgnoreCase).Where(k => before[k] != after[k]).Order(StringComparer.Ordinal)];

    private ActivationResult Finish(SlotRef slot, string state, string? reason)
    {
        if (state != ActivationStates.Active)
        {
            ConfigLog.Failed(_logger, slot.Name, slot.Version, state + ": " + reason);
        }

        Report(slot, state, reason);
        return new ActivationResult(state, reason);
    }

    private void Report(SlotRef slot, string state, string? reason) =>
        _events.Report(new ActivationEvent(slot.Name, slot.Version, state, reason, _time.GetUtcNow()));
}

/// <summary>Log lines of config bundles.</summary>
internal static partial class ConfigLog
{
    [LoggerMessage(450, LogLevel.Information, "Config {Name} {Version} installed: {Changed}")]
    public static partial void Installed(ILogger logger, string name, string version, string changed);

    [LoggerMessage(451, LogLevel.Warning, "Config {Name} {Version} not installed: {Reason}")]
    public static partial void Failed(ILogger logger, string name, string version, string reason);
}
