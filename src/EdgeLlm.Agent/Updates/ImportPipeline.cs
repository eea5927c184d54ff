using System.Globalization;
using System.Security.Cryptography;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Agent.Updates;

/// <summary>States of an update before and around the activation itself (<see cref="ActivationStates"/> holds the rest).</summary>
internal static class UpdateStates
{
    /// <summary>The wire form is <c>downloading 43%</c> (<see cref="DownloadProgress.State"/>).</summary>
    public const string Downloading = "downloading";

    public const string DownloadFailed = "download_failed";

    /// <summary>The bundle was not activated; the reason starts with its code (<c>bad_signature: …</c>, <c>insufficient_memory: …</c>).</summary>
    public const string Refused = "refused";

    /// <summary>States after which nothing more happens to the bundle (until another one is named).</summary>
    public static bool IsFinal(string state) =>
        state is Refused or DownloadFailed or ActivationStates.Active or ActivationStates.Committed or ActivationStates.RolledBack;

    /// <summary>States that say the update went wrong.</summary>
    public static bool IsFailure(string state) =>
        state is Refused or DownloadFailed or ActivationStates.RolledBack or ActivationStates.SmokeTestFailed or ActivationStates.LoadFailed;
}

/// <summary>Refusal codes of the checks made here, beside <see cref="BundleRejectedException.Code"/>'s.</summary>
internal static class ImportRefusals
{
    public const string UnsupportedKind = "unsupported_kind";
    public const string NotDesired = "not_desired";
    public const string InsufficientMemory = "insufficient_memory";
    public const string InsufficientDisk = "insufficient_disk";
    public const string AgentTooOld = "agent_too_old";
}

/// <summary>What the device offers a bundle's runtime needs; null where unknown (that need is not checked).</summary>
internal sealed record DeviceResources(long? MemoryAvailableBytes, long? DiskFreeBytes, string? AgentVersion)
{
    public static DeviceResources Of(IDeviceProbe probe)
    {
        ArgumentNullException.ThrowIfNull(probe);
        return new DeviceResources(probe.MemoryAvailableBytes(), probe.DiskFreeBytes(), probe.Status().Version);
    }

    /// <summary>This machine now, for a tool run beside a stopped agent.</summary>
    public static DeviceResources Local(string dataDir)
    {
        long? disk;
        try
        {
            disk = new DriveInfo(Path.GetFullPath(dataDir)).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            disk = null;
        }

        return new DeviceResources(DeviceProbe.MemAvailable("/proc/meminfo"), disk, Mqtt.StatusBoard.Version);
    }

    /// <summary>The refusal (<c>code: why</c>) of a need this device does not meet, or null.</summary>
    public string? Refusal(BundleRuntimeNeeds needs)
    {
        ArgumentNullException.ThrowIfNull(needs);
        if (MemoryAvailableBytes is { } memory && needs.MinMemoryBytes > memory)
        {
            return $"{ImportRefusals.InsufficientMemory}: the bundle needs {needs.MinMemoryBytes} bytes of memory, {memory} are available";
        }

        if (DiskFreeBytes is { } disk && needs.MinDiskBytes > disk)
        {
            return $"{ImportRefusals.InsufficientDisk}: the bundle needs {needs.MinDiskBytes} bytes of disk, {disk} are free";
        }

        if (needs.MinAgentVersion is { } min && AgentVersion is { } agent && ParseVersion(min) is { } wanted && ParseVersion(agent) is { } have && have < wanted)
        {
            return $"{ImportRefusals.AgentTooOld}: the bundle needs agent {min} or newer, this is {agent}";
        }

        return null;
    }

    private static Version? ParseVersion(string text) =>
        Version.TryParse(text.Split('-', '+')[0], out var v) ? v : null;
}

/// <summary>The end of one bundle's way through <see cref="ImportPipeline"/>.</summary>
internal sealed record ImportResult(string Name, string Version, string State, string? Reason, BundleKind? Kind = null)
{
    public bool Activated => State == ActivationStates.Active;

    /// <summary>A config bundle was switched in but changes settings the agent reads at start (<see cref="ConfigRefusals.RestartRequired"/>).</summary>
    public bool RestartRequired => Activated && Reason?.StartsWith(ConfigRefusals.RestartRequired, StringComparison.Ordinal) == true;

    public string Text => Reason is null ? State : State + ": " + Reason;
}

/// <summary>
/// The one path a bundle takes onto the device, whether the fleet named it, it came from the import folder or
/// <c>edgellm bundle import</c> was run: <c>verifying</c> (the header is read and the runtime needs checked before anything
/// is written), unpack with <see cref="BundleReader"/> into <c>staging/{sha256}/</c> (every signature, size and hash checked
/// on the way), the verified manifest checked against the expected name and version, then by kind: a model to
/// <see cref="ModelActivator.ActivateAsync"/>, adapters, manuals and config to their <see cref="IBundleInstaller"/>. A refusal is
/// reported as <c>refused: code: why</c> and leaves nothing behind in staging; what served before keeps serving.
/// </summary>
internal sealed class ImportPipeline(BundleTrust trust, ModelActivator activator, IEnumerable<IBundleInstaller> installers, IActivationEvents events, string dataDir, TimeProvider time)
{
    private readonly IBundleInstaller[] _installers = [.. installers];

    /// <summary>
    /// Deletes the unpacked folders (<c>staging/{sha256}/</c>) an import interrupted by a crash left behind; downloads
    /// (<c>.part</c> and complete bundle files) stay, to resume or install. Call at start, before any import runs.
    /// </summary>
    public static int DeleteUnpackedLeftovers(string dataDir)
    {
        var staging = Path.Combine(Path.GetFullPath(dataDir), Downloader.StagingFolder);
        if (!Directory.Exists(staging))
        {
            return 0;
        }

        var deleted = 0;
        foreach (var folder in Directory.EnumerateDirectories(staging))
        {
            Directory.Delete(folder, recursive: true);
            deleted++;
        }

        return deleted;
    }

    /// <summary>The SHA-256 (lowercase hex) of a file, streamed.</summary>
    public static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (file.ConfigureAwait(false))
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>
    /// Verifies, unpacks and activates the bundle at <paramref name="bundlePath"/> (never modified nor deleted).
    /// <paramref name="expected"/>, when given, is the name and version the bundle must carry.
    /// </summary>
    public async Task<ImportResult> InstallAsync(string bundlePath, string sha256, ArtifactRef? expected, DeviceResources device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        var name = expected?.Name ?? Path.GetFileName(bundlePath);
        var version = expected?.Version ?? "";
        Report(name, version, ActivationStates.Verifying, null);
        var staging = Path.Combine(Path.GetFullPath(dataDir), Downloader.StagingFolder, sha256);
        try
        {
            var header = await BundleReader.InspectAsync(bundlePath, null, cancellationToken).ConfigureAwait(false);
            (name, version) = (header.Manifest.Name, header.Manifest.Version);
            if (Check(header.Manifest, expected, device) is { } refusal)
            {
                return Refuse(name, version, refusal);
            }

            if (Directory.Exists(staging))
            {
                // Left by an interrupted import of the same bundle.
                Directory.Delete(staging, recursive: true);
            }

            var verified = await new BundleReader(trust).UnpackAsync(bundlePath, staging, cancellationToken).ConfigureAwait(false);
            if (verified.Header.ManifestSha256 != header.ManifestSha256 && Check(verified.Manifest, expected, device) is { } late)
            {
                return Refuse(name, version, late);
            }

            var result = verified.Manifest.Kind == BundleKind.Model
                ? await activator.ActivateAsync(ModelCandidate.FromManifest(staging, verified.Manifest), cancellationToken).ConfigureAwait(false)
                : await InstallerOf(verified.Manifest.Kind)!.InstallAsync(staging, verified.Manifest, cancellationToken).ConfigureAwait(false);
            return new ImportResult(name, version, result.State, result.Reason, verified.Manifest.Kind);
        }
        catch (BundleRejectedException ex)
        {
            return Refuse(name, version, $"{ex.Code}: {ex.Message}");
        }
        finally
        {
            // The activator moved an accepted staging folder into its slot; anything still here was refused.
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private IBundleInstaller? InstallerOf(BundleKind kind) => Array.Find(_installers, i => i.Kind == kind);

    private string? Check(BundleManifest manifest, ArtifactRef? expected, DeviceResources device)
    {
        if (manifest.Kind != BundleKind.Model && InstallerOf(manifest.Kind) is null)
        {
            return $"{ImportRefusals.UnsupportedKind}: {manifest.Name} {manifest.Version} is a {manifest.Kind.ToString().ToLowerInvariant()} bundle, which this agent does not install";
        }

        if (expected is not null && (manifest.Name != expected.Name || manifest.Version != expected.Version))
        {
            return string.Create(CultureInfo.InvariantCulture, $"{ImportRefusals.NotDesired}: the bundle holds {manifest.Name} {manifest.Version}, the desired state names {expected.Name} {expected.Version}");
        }

        return device.Refusal(manifest.Runtime);
    }

    private ImportResult Refuse(string name, string version, string reason)
    {
        Report(name, version, UpdateStates.Refused, reason);
        return new ImportResult(name, version, UpdateStates.Refused, reason);
    }

    private void Report(string name, string version, string state, string? reason) =>
        events.Report(new ActivationEvent(name, version, state, reason, time.GetUtcNow()));
}
