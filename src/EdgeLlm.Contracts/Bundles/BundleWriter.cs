using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace EdgeLlm.Contracts.Bundles;

/// <summary>What <see cref="BundleWriter.CreateAsync"/> puts in the manifest besides the files.</summary>
public sealed record BundleCreateOptions
{
    public required BundleKind Kind { get; init; }

    public required string Name { get; init; }

    public required string Version { get; init; }

    /// <summary>Default <c>unspecified</c>.</summary>
    public string Licence { get; init; } = "unspecified";

    public IReadOnlyList<string> ExecutionProviders { get; init; } = [];

    public long MinMemoryBytes { get; init; }

    /// <summary>Null = the payload's total size.</summary>
    public long? MinDiskBytes { get; init; }

    public string? MinAgentVersion { get; init; }

    public BundleSmokeTest? SmokeTest { get; init; }

    /// <summary>Gzip the whole tar (default false: model weights barely compress, and a plain tar unpacks at disk speed).</summary>
    public bool Gzip { get; init; }
}

/// <summary>Writes <c>.edgebundle</c> files (see <see cref="BundleFormat"/>).</summary>
public static class BundleWriter
{
    private const UnixFileMode FileMode644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// Signs and writes a bundle of every file under <paramref name="sourceDirectory"/> to <paramref name="output"/>.
    /// Each file is read twice: once to hash it for the manifest (which comes first in the archive), and again while it is
    /// copied into the archive, hashed once more and compared, so a file that changes meanwhile fails the command instead of
    /// producing a bundle no device accepts. Symbolic links (files or folders) are refused.
    /// </summary>
    /// <returns>The manifest as written, with the signing key id.</returns>
    /// <exception cref="ArgumentException">An option is invalid, a path cannot go in a bundle, or the folder holds a link.</exception>
    /// <exception cref="IOException">A file changed while the bundle was written.</exception>
    public static async Task<BundleHeader> CreateAsync(
        BundleCreateOptions options, string sourceDirectory, BundleSigningKey key, Stream output, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(time);
        var root = Path.GetFullPath(sourceDirectory);
        if (!Directory.Exists(root))
        {
            throw new ArgumentException($"--from '{sourceDirectory}' is not a folder");
        }

        var sources = ListFiles(root);
        var files = new List<BundleFile>(sources.Count);
        foreach (var (path, full) in sources)
        {
            var (size, sha) = await HashFileAsync(full, cancellationToken).ConfigureAwait(false);
            files.Add(new BundleFile { Path = path, Size = size, Sha256 = sha });
        }

        var createdAt = time.GetUtcNow();
        var manifest = new BundleManifest
        {
            FormatVersion = BundleFormat.Version,
            Kind = options.Kind,
            Name = options.Name,
            Version = options.Version,
            Licence = options.Licence,
            CreatedAt = new DateTimeOffset(createdAt.UtcTicks - createdAt.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero),
            Runtime = new BundleRuntimeNeeds
            {
                ExecutionProviders = options.ExecutionProviders,
                MinMemoryBytes = options.MinMemoryBytes,
                MinDiskBytes = options.MinDiskBytes ?? files.Sum(f => f.Size),
                MinAgentVersion = options.MinAgentVersion,
            },
            Files = files,
            SmokeTest = options.SmokeTest,
        };
        try
        {
            ManifestValidator.Validate(manifest, BundleLimits.Default);
        }
        catch (BundleRejectedException ex)
        {
            throw new ArgumentException(ex.Message, ex);
        }

        var manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, BundleJsonContext.Default.BundleManifest);
        var signatureBytes = JsonSerializer.SerializeToUtf8Bytes(key.Sign(manifestBytes), BundleJsonContext.Default.BundleSignature);

        if (options.Gzip)
        {
            var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true);
            await using (gzip.ConfigureAwait(false))
            {
                await WriteTarAsync(gzip, manifest, manifestBytes, signatureBytes, sources, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            await WriteTarAsync(output, manifest, manifestBytes, signatureBytes, sources, cancellationToken).ConfigureAwait(false);
        }

        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return new BundleHeader
        {
            Manifest = manifest,
            KeyId = key.KeyId,
            ManifestSha256 = Convert.ToHexStringLower(SHA256.HashData(manifestBytes)),
            Compressed = options.Gzip,
        };
    }

    private static async Task WriteTarAsync(
        Stream target, BundleManifest manifest, byte[] manifestBytes, byte[] signatureBytes, List<(string Path, string FullPath)> sources, CancellationToken cancellationToken)
    {
        var tar = new TarWriter(target, TarEntryFormat.Pax, leaveOpen: true);
        await using (tar.ConfigureAwait(false))
        {
            await WriteEntryAsync(tar, BundleFormat.ManifestEntry, new MemoryStream(manifestBytes), manifest.CreatedAt, cancellationToken).ConfigureAwait(false);
            await WriteEntryAsync(tar, BundleFormat.SignatureEntry, new MemoryStream(signatureBytes), manifest.CreatedAt, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < manifest.Files.Count; i++)
            {
                await WritePayloadAsync(tar, manifest.Files[i], sources[i].FullPath, manifest.CreatedAt, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task WritePayloadAsync(TarWriter tar, BundleFile file, string fullPath, DateTimeOffset mtime, CancellationToken cancellationToken)
    {
        var data = new HashingReadStream(fullPath);
        await using (data.ConfigureAwait(false))
        {
            if (data.Length != file.Size)
            {
                throw new IOException($"'{fullPath}' changed size while the bundle was written ({file.Size} then {data.Length} bytes)");
            }

            await WriteEntryAsync(tar, BundleFormat.PayloadPrefix + file.Path, data, mtime, cancellationToken).ConfigureAwait(false);
            if (data.BytesRead != file.Size || data.HashHex() != file.Sha256)
            {
                throw new IOException($"'{fullPath}' changed while the bundle was written");
            }
        }
    }

    private static async Task WriteEntryAsync(TarWriter tar, string name, Stream data, DateTimeOffset mtime, CancellationToken cancellationToken)
    {
        // Only what a reader needs: no owner names, no access or change times, so the same input gives the same archive.
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name, new Dictionary<string, string>())
        {
            DataStream = data,
            Mode = FileMode644,
            ModificationTime = mtime,
        };
        await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<(long Size, string Sha256)> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.SequentialScan });
        await using (file.ConfigureAwait(false))
        {
            var hash = await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false);
            return (file.Position, Convert.ToHexStringLower(hash));
        }
    }

    /// <summary>Every regular file under <paramref name="root"/>, as ('/'-separated relative path, full path), sorted ordinally.</summary>
    private static List<(string Path, string FullPath)> ListFiles(string root)
    {
        var found = new List<(string Path, string FullPath)>();
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(root));
        while (pending.Count > 0)
        {
            foreach (var info in pending.Pop().EnumerateFileSystemInfos())
            {
                if (info.LinkTarget is not null)
                {
                    throw new ArgumentException($"'{info.FullName}' is a symbolic link; bundles hold only regular files (copy the target instead)");
                }

                if (info is DirectoryInfo dir)
                {
                    pending.Push(dir);
                    continue;
                }

                var relative = Path.GetRelativePath(root, info.FullName).Replace(Path.DirectorySeparatorChar, '/');
                if (ManifestValidator.PathProblem(relative, BundleLimits.Default.MaxPathBytes) is { } problem)
                {
                    throw new ArgumentException($"'{info.FullName}' cannot go in a bundle: its path {problem}");
                }

                found.Add((relative, info.FullName));
            }
        }

        found.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return found;
    }
}
