using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Knowledge;
using EdgeLlm.Knowledge.Documents;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Knowledge;

/// <summary>
/// Installs a verified manuals bundle into <c>knowledge.db</c>: the documents of bundle NAME become exactly the manuals the
/// bundle carries, in one transaction (<see cref="KnowledgeBase.ReplaceSourceAsync"/>), so a question answered meanwhile
/// sees the whole old set or the whole new one, and documents added with <c>edgellm manuals add</c> or by other bundles are
/// not touched.
/// <list type="number">
/// <item><c>unpacking</c>: the payload is copied from staging into <c>DATA_DIR/manuals/NAME/VERSION/</c>, where the indexed
/// documents' paths point (a leftover of an interrupted install of that version is replaced).</item>
/// <item><c>loading</c>: every manual is read, parsed and chunked, then the index is written and committed. A file that cannot
/// be parsed, a full disk or any write failure changes nothing: <c>rolled_back: index_failed: …</c>, and the new folder is
/// removed. A crash leaves the old index (SQLite's own recovery) and at worst an unused folder, replaced or removed by the
/// next install of that bundle.</item>
/// <item><c>active</c>: the agent's next question searches the new index; the folders of the bundle's other versions are removed.</item>
/// </list>
/// The same name, version and files again is a no-op (<c>active: already installed</c>); the same version with other files
/// is refused (a changed bundle must carry a new version). Files of formats the index does not read (a licence, images) are
/// kept in the folder and not indexed.
/// </summary>
internal sealed class ManualsBundleInstaller(
    IOptions<AgentOptions> agent, IOptions<KnowledgeOptions> knowledge, Manuals manuals, IActivationEvents events, TimeProvider time,
    ILogger<ManualsBundleInstaller> logger) : IBundleInstaller, IDisposable
{
    /// <summary>The folder under the data directory that holds <c>NAME/VERSION/</c> of every installed manuals bundle.</summary>
    public const string FolderName = "manuals";

    /// <summary>The reason code of an index that could not be written (the rest of the reason says why).</summary>
    public const string IndexFailed = "index_failed";

    /// <summary>The refusal code of a version installed before with other files.</summary>
    public const string VersionConflict = "version_conflict";

    private readonly string _dataDir = Path.GetFullPath(agent.Value.DataDir);
    private readonly SemaphoreSlim _gate = new(1, 1);

    public BundleKind Kind => BundleKind.Manuals;

    /// <summary>Where the files of bundle <paramref name="name"/> at <paramref name="version"/> live.</summary>
    public string FolderOf(string name, string version) => Path.Combine(_dataDir, FolderName, name, version);

    /// <summary>
    /// Identifies a bundle's content: the SHA-256 of its sorted <c>path</c> and file SHA-256 pairs, so the same files signed
    /// again (another created_at) count as the same content.
    /// </summary>
    public static string ContentDigest(BundleManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var text = new StringBuilder();
        foreach (var file in manifest.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            text.Append(file.Path).Append('\0').Append(file.Sha256).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    public async Task<ActivationResult> InstallAsync(string stagingFolder, BundleManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stagingFolder);
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Kind != BundleKind.Manuals)
        {
            throw new ArgumentException($"{manifest.Name} {manifest.Version} is a {manifest.Kind} bundle, not manuals", nameof(manifest));
        }

        var source = new DocumentSource(manifest.Name, manifest.Version, ContentDigest(manifest));
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var kb = OpenIndex(out var openError);
            if (kb is null)
            {
                return Finish(source, ActivationStates.RolledBack, $"{IndexFailed}: {openError}");
            }

            var installed = kb.Source(source.Name);
            if (installed == source)
            {
                return Finish(source, ActivationStates.Active, "already installed");
            }

            if (installed?.Version == source.Version)
            {
                return Finish(source, UpdateStates.Refused,
                    $"{VersionConflict}: manuals {source.Name} {source.Version} are installed with other files; publish the change as a new version");
            }

            var folder = FolderOf(source.Name, source.Version);
            Report(source, ActivationStates.Unpacking, null);
            try
            {
                CopyPayload(stagingFolder, manifest, folder);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Fail(source, folder, $"{IndexFailed}: the manuals cannot be copied into {folder}: {ex.Message}");
            }

            Report(source, ActivationStates.Loading, null);
            ReplaceSourceResult result;
            try
            {
                result = await kb.ReplaceSourceAsync(source, folder, tokenCounter: null, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
            {
                return Fail(source, folder, $"{IndexFailed}: knowledge.db cannot be written ({ex.Message}); the manuals index is unchanged");
            }
            catch (OperationCanceledException)
            {
                // Cancelled before the transaction began: nothing was committed, so the new folder serves nothing.
                DeleteFolder(folder);
                throw;
            }

            if (!result.Replaced)
            {
                return Fail(source, folder, $"{IndexFailed}: {result.Error}; the manuals index is unchanged");
            }

            manuals.Refresh();
            RemoveOtherVersions(source);
            var summary = Summary(result);
            ManualsLog.Installed(logger, source.Name, source.Version, summary);
            return Finish(source, ActivationStates.Active, summary);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private KnowledgeBase? OpenIndex(out string? error)
    {
        try
        {
            error = null;
            return KnowledgeBase.Open(Path.Combine(_dataDir, KnowledgeBase.FileName), knowledge.Value, time);
        }
        catch (Exception ex) when (ex is DocumentException or InvalidOperationException)
        {
            error = ex.Message;
            return null;
        }
    }

    private static void CopyPayload(string staging, BundleManifest manifest, string folder)
    {
        // Left by an install of this version that never committed (the committed version never gets here).
        DeleteFolder(folder);
        foreach (var file in manifest.Files)
        {
            var target = Path.Combine(folder, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(staging, file.Path), target);
        }
    }

    private static void DeleteFolder(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Summary(ReplaceSourceResult result)
    {
        int Count(IngestStatus status) => result.Files.Count(f => f.Status == status);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{result.Files.Count} documents: {Count(IngestStatus.Added)} added, {Count(IngestStatus.Updated)} updated, {Count(IngestStatus.Unchanged)} unchanged, {result.Removed.Count} removed");
        return result.Skipped.Count == 0 ? summary : summary + $"; not manuals, kept but not indexed: {string.Join(", ", result.Skipped)}";
    }

    private void RemoveOtherVersions(DocumentSource source)
    {
        var bundle = Path.Combine(_dataDir, FolderName, source.Name);
        foreach (var old in Directory.EnumerateDirectories(bundle).Where(d => Path.GetFileName(d) != source.Version))
        {
            try
            {
                Directory.Delete(old, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The index no longer names these files: a leftover costs disk space, not correctness.
                ManualsLog.OldVersionKept(logger, old, ex.Message);
            }
        }
    }

    private ActivationResult Fail(DocumentSource source, string folder, string reason)
    {
        try
        {
            DeleteFolder(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ManualsLog.OldVersionKept(logger, folder, ex.Message);
        }

        return Finish(source, ActivationStates.RolledBack, reason);
    }

    private ActivationResult Finish(DocumentSource source, string state, string reason)
    {
        if (state != ActivationStates.Active)
        {
            ManualsLog.Failed(logger, source.Name, source.Version, reason);
        }

        Report(source, state, reason);
        return new ActivationResult(state, reason);
    }

    private void Report(DocumentSource source, string state, string? reason) =>
        events.Report(new ActivationEvent(source.Name, source.Version, state, reason, time.GetUtcNow()));
}

/// <summary>Log lines of manuals bundles.</summary>
internal static partial class ManualsLog
{
    [LoggerMessage(440, LogLevel.Information, "Manuals {Name} {Version} installed: {Summary}")]
    public static partial void Installed(ILogger logger, string name, string version, string summary);

    [LoggerMessage(441, LogLevel.Warning, "Manuals {Name} {Version} not installed: {Reason}")]
    public static partial void Failed(ILogger logger, string name, string version, string reason);

    [LoggerMessage(442, LogLevel.Warning, "Manuals: the unused folder {Folder} could not be removed ({Error})")]
    public static partial void OldVersionKept(ILogger logger, string folder, string error);
}
