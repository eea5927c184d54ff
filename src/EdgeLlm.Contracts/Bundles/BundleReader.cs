using System.Buffers;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace EdgeLlm.Contracts.Bundles;

/// <summary>What a bundle says about itself: its manifest and who signed it.</summary>
public sealed record BundleHeader
{
    public required BundleManifest Manifest { get; init; }

    /// <summary>The signing key's id (see <see cref="BundleKeys.KeyIdOf"/>).</summary>
    public required string KeyId { get; init; }

    /// <summary>SHA-256 of the exact bytes of <c>manifest.json</c> (lowercase hex): names this signed content.</summary>
    public required string ManifestSha256 { get; init; }

    /// <summary>Whether the archive was gzip-compressed.</summary>
    public required bool Compressed { get; init; }
}

/// <summary>A bundle whose signature, structure and every file's size and SHA-256 checked out.</summary>
public sealed record VerifiedBundle
{
    public required BundleHeader Header { get; init; }

    /// <summary>The full path of the folder the payload was unpacked into, or null when it was only verified.</summary>
    public required string? StagingDirectory { get; init; }

    public BundleManifest Manifest => Header.Manifest;

    public string KeyId => Header.KeyId;
}

/// <summary>
/// Verifies <c>.edgebundle</c> files and unpacks them, in one forward pass over a file or any readable stream (a download
/// in progress, a USB stick). See <see cref="BundleFormat"/> for the layout.
/// </summary>
/// <remarks>
/// <para>Order of checks: the first two entries must be <c>manifest.json</c> and <c>manifest.sig</c>; the signature is
/// verified against the trusted keys before the manifest is parsed; the manifest is then validated (safe name, version and
/// paths, no duplicates, sizes under <see cref="BundleLimits"/>). Each payload entry must be a regular file the manifest
/// lists, with the declared size in its header; it is hashed while it is copied, through one fixed buffer, so memory does
/// not grow with the payload. Decompressed bytes are capped at the declared total plus headers and slack, so a gzip bomb is
/// stopped as soon as it passes that.</para>
/// <para>A refusal throws <see cref="BundleRejectedException"/>. Nothing is ever written outside the staging folder, and on
/// any failure (refusal, I/O error, cancellation) the staging folder is returned to how it was found: removed if the reader
/// created it, else emptied. Unpacked files are flushed to disk before success is returned.</para>
/// </remarks>
public sealed partial class BundleReader(BundleTrust trust, BundleLimits? limits = null)
{
    private const int CopyBufferBytes = 128 * 1024;
    private const int TarBlock = 512;

    private const UnixFileMode FileMode644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly BundleLimits _limits = limits ?? BundleLimits.Default;

    /// <summary>Verifies and unpacks the bundle at <paramref name="bundlePath"/> into <paramref name="stagingDirectory"/>.</summary>
    /// <param name="bundlePath">The <c>.edgebundle</c> file.</param>
    /// <param name="stagingDirectory">Created when absent; must be empty when present. Payload path <c>a/b</c> lands at <c>STAGING/a/b</c>.</param>
    /// <param name="cancellationToken">Stops the work; the staging folder is restored as on a refusal.</param>
    /// <returns>The verified manifest and signing key.</returns>
    /// <exception cref="BundleRejectedException">The bundle is refused; <see cref="BundleRejectedException.Reason"/> says why.</exception>
    /// <exception cref="IOException">The staging folder is not empty, or reading or writing failed.</exception>
    public async Task<VerifiedBundle> UnpackAsync(string bundlePath, string stagingDirectory, CancellationToken cancellationToken)
    {
        var file = OpenRead(bundlePath);
        await using (file.ConfigureAwait(false))
        {
            return await UnpackAsync(file, stagingDirectory, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="UnpackAsync(string, string, CancellationToken)"/>
    public async Task<VerifiedBundle> UnpackAsync(Stream bundle, string stagingDirectory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var staging = Path.GetFullPath(stagingDirectory);
        var created = PrepareStaging(staging);
        var done = false;
        try
        {
            var header = await ReadAsync(bundle, trust, staging, headerOnly: false, _limits, cancellationToken).ConfigureAwait(false);
            done = true;
            return new VerifiedBundle { Header = header, StagingDirectory = staging };
        }
        finally
        {
            if (!done)
            {
                RestoreStaging(staging, created);
            }
        }
    }

    /// <summary>Verifies the bundle at <paramref name="bundlePath"/> completely (signature, structure, every size and hash) without writing anything.</summary>
    public async Task<VerifiedBundle> VerifyAsync(string bundlePath, CancellationToken cancellationToken)
    {
        var file = OpenRead(bundlePath);
        await using (file.ConfigureAwait(false))
        {
            return await VerifyAsync(file, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="VerifyAsync(string, CancellationToken)"/>
    public async Task<VerifiedBundle> VerifyAsync(Stream bundle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var header = await ReadAsync(bundle, trust, staging: null, headerOnly: false, _limits, cancellationToken).ConfigureAwait(false);
        return new VerifiedBundle { Header = header, StagingDirectory = null };
    }

    /// <summary>
    /// Reads the manifest and the signing key id without checking the signature against any trust or reading the payload:
    /// for showing what a bundle claims to be. Nothing it returns is trustworthy.
    /// </summary>
    public static async Task<BundleHeader> InspectAsync(string bundlePath, BundleLimits? limits, CancellationToken cancellationToken)
    {
        var file = OpenRead(bundlePath);
        await using (file.ConfigureAwait(false))
        {
            return await ReadAsync(file, trust: null, staging: null, headerOnly: true, limits ?? BundleLimits.Default, cancellationToken).ConfigureAwait(false);
        }
    }

    [GeneratedRegex("^[0-9a-f]{16}$")]
    private static partial Regex KeyIdPattern();

    // Buffered: gzip and tar headers read in small pieces, which a buffer serves without a system call (or an allocation).
    private static FileStream OpenRead(string path) =>
        new(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.SequentialScan, BufferSize = CopyBufferBytes });

    private static async Task<BundleHeader> ReadAsync(
        Stream bundle, BundleTrust? trust, string? staging, bool headerOnly, BundleLimits limits, CancellationToken cancellationToken)
    {
        var magic = new byte[2];
        var sniffed = await bundle.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        var gzip = sniffed == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        var source = new GuardedReadStream(bundle, magic.AsMemory(0, sniffed), BundleRejectReason.TooLarge);
        await using (source.ConfigureAwait(false))
        {
            var decompressed = gzip ? new GZipStream(source, CompressionMode.Decompress, leaveOpen: true) : null;
            await using (decompressed)
            {
                var tarBytes = new GuardedReadStream(decompressed ?? (Stream)source, ReadOnlyMemory<byte>.Empty, gzip ? BundleRejectReason.DecompressionBomb : BundleRejectReason.TooLarge)
                {
                    Limit = limits.MaxManifestBytes + limits.MaxSignatureBytes + (4L * limits.PerEntryOverheadBytes),
                };
                var archive = new Archive(source, tarBytes);
                await using (tarBytes.ConfigureAwait(false))
                await using (archive.ConfigureAwait(false))
                {
                    var header = await ReadHeaderAsync(archive, trust, gzip, limits, cancellationToken).ConfigureAwait(false);
                    if (!headerOnly)
                    {
                        var manifest = header.Manifest;
                        tarBytes.Limit = tarBytes.BytesRead + manifest.TotalBytes
                            + ((long)manifest.Files.Count * limits.PerEntryOverheadBytes) + (2 * TarBlock) + limits.SlackBytes;
                        await ReadPayloadAsync(archive, manifest, staging, limits, cancellationToken).ConfigureAwait(false);
                    }

                    return header;
                }
            }
        }
    }

    private static async Task<BundleHeader> ReadHeaderAsync(Archive archive, BundleTrust? trust, bool gzip, BundleLimits limits, CancellationToken cancellationToken)
    {
        var manifestEntry = await archive.NextAsync(cancellationToken).ConfigureAwait(false);
        RequireFirst(manifestEntry, BundleFormat.ManifestEntry, BundleRejectReason.ManifestMissing, "first");
        if (manifestEntry!.Length > limits.MaxManifestBytes)
        {
            throw new BundleRejectedException(BundleRejectReason.ManifestTooLarge,
                $"manifest.json is {manifestEntry.Length} bytes (limit {limits.MaxManifestBytes})", BundleFormat.ManifestEntry);
        }

        var manifestBytes = await archive.ReadAllAsync(manifestEntry, cancellationToken).ConfigureAwait(false);

        var signatureEntry = await archive.NextAsync(cancellationToken).ConfigureAwait(false);
        RequireFirst(signatureEntry, BundleFormat.SignatureEntry, BundleRejectReason.SignatureMissing, "second");
        if (signatureEntry!.Length > limits.MaxSignatureBytes)
        {
            throw new BundleRejectedException(BundleRejectReason.BadSignature,
                $"manifest.sig is {signatureEntry.Length} bytes (limit {limits.MaxSignatureBytes})", BundleFormat.SignatureEntry);
        }

        var signature = ParseSignature(await archive.ReadAllAsync(signatureEntry, cancellationToken).ConfigureAwait(false));

        // The signature is checked before the manifest is parsed: untrusted JSON never reaches the deserializer on a device.
        trust?.Verify(manifestBytes, signature);
        return new BundleHeader
        {
            Manifest = ManifestValidator.Parse(manifestBytes, limits),
            KeyId = signature.KeyId,
            ManifestSha256 = Convert.ToHexStringLower(SHA256.HashData(manifestBytes)),
            Compressed = gzip,
        };
    }

    private static void RequireFirst(TarEntry? entry, string name, BundleRejectReason reason, string position)
    {
        if (entry is null)
        {
            throw new BundleRejectedException(reason, $"the archive ends before {name} (it must be the {position} entry)", name);
        }

        if (entry.Name != name || !IsRegularFile(entry.EntryType))
        {
            throw new BundleRejectedException(reason, $"the {position} entry is '{entry.Name}' ({entry.EntryType}), not the file {name}", entry.Name);
        }
    }

    private static BundleSignature ParseSignature(byte[] json)
    {
        BundleSignature? signature;
        try
        {
            signature = JsonSerializer.Deserialize(json, BundleJsonContext.Default.BundleSignature);
        }
        catch (JsonException ex)
        {
            throw new BundleRejectedException(BundleRejectReason.BadSignature, $"manifest.sig is malformed: {ex.Message}", BundleFormat.SignatureEntry, ex);
        }

        if (signature is null || signature.FormatVersion != BundleFormat.Version || signature.Algorithm != BundleSignature.EcdsaP256Sha256
            || !KeyIdPattern().IsMatch(signature.KeyId))
        {
            throw new BundleRejectedException(BundleRejectReason.BadSignature,
                $"manifest.sig must be format_version {BundleFormat.Version}, algorithm {BundleSignature.EcdsaP256Sha256}, a 16-hex-digit key_id", BundleFormat.SignatureEntry);
        }

        return signature;
    }

    private static async Task ReadPayloadAsync(Archive archive, BundleManifest manifest, string? staging, BundleLimits limits, CancellationToken cancellationToken)
    {
        var expected = manifest.Files.ToDictionary(f => BundleFormat.PayloadPrefix + f.Path, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            while (await archive.NextAsync(cancellationToken).ConfigureAwait(false) is { } entry)
            {
                if (!CheckEntry(entry, limits))
                {
                    continue;
                }

                if (!expected.TryGetValue(entry.Name, out var file))
                {
                    throw new BundleRejectedException(BundleRejectReason.ExtraEntry, $"entry '{entry.Name}' is not listed in the manifest", entry.Name);
                }

                if (!seen.Add(entry.Name))
                {
                    throw new BundleRejectedException(BundleRejectReason.DuplicateEntry, $"entry '{entry.Name}' appears twice in the archive", entry.Name);
                }

                if (entry.Length != file.Size)
                {
                    throw new BundleRejectedException(BundleRejectReason.SizeMismatch,
                        $"entry '{entry.Name}' is {entry.Length} bytes, the manifest says {file.Size}", entry.Name);
                }

                await archive.CopyAsync(entry, file, staging is null ? null : TargetPath(staging, file.Path), buffer, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (manifest.Files.FirstOrDefault(f => !seen.Contains(BundleFormat.PayloadPrefix + f.Path)) is { } missing)
        {
            var entry = BundleFormat.PayloadPrefix + missing.Path;
            throw new BundleRejectedException(BundleRejectReason.MissingFile, $"the manifest lists '{missing.Path}' but the archive has no entry '{entry}'", entry);
        }

        await archive.CheckEndAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Refuses entries that are not plain files or folders or whose name is unsafe; false for a folder (skipped).</summary>
    private static bool CheckEntry(TarEntry entry, BundleLimits limits)
    {
        var name = entry.Name;
        switch (entry.EntryType)
        {
            case TarEntryType.SymbolicLink or TarEntryType.HardLink:
                throw new BundleRejectedException(BundleRejectReason.LinkEntry, $"entry '{name}' is a {entry.EntryType} to '{entry.LinkName}'; bundles hold no links", name);
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                throw new BundleRejectedException(BundleRejectReason.SpecialEntry, $"entry '{name}' is a {entry.EntryType}; bundles hold only files", name);
            case TarEntryType.Directory:
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile
                when !(entry is PaxTarEntry pax && pax.ExtendedAttributes.Keys.Any(k => k.StartsWith("GNU.sparse", StringComparison.Ordinal))):
                break;
            default:
                throw new BundleRejectedException(BundleRejectReason.UnsupportedEntry, $"entry '{name}' is a {entry.EntryType} entry; bundles hold only files", name);
        }

        var isFolder = entry.EntryType == TarEntryType.Directory;
        var path = isFolder && name.EndsWith('/') ? name[..^1] : name;
        if (ManifestValidator.PathProblem(path, limits.MaxPathBytes + BundleFormat.PayloadPrefix.Length) is { } problem)
        {
            throw new BundleRejectedException(BundleRejectReason.UnsafePath, $"entry '{name}' {problem}", name);
        }

        if (isFolder)
        {
            return path == BundleFormat.PayloadPrefix[..^1] || path.StartsWith(BundleFormat.PayloadPrefix, StringComparison.Ordinal)
                ? false
                : throw new BundleRejectedException(BundleRejectReason.ExtraEntry, $"folder entry '{name}' is outside payload/", name);
        }

        return true;
    }

    private static string TargetPath(string staging, string relative)
    {
        var full = Path.GetFullPath(Path.Join(staging, relative));

        // Validated paths cannot climb out; this guards the guard.
        return full.StartsWith(staging + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? full
            : throw new BundleRejectedException(BundleRejectReason.UnsafePath, $"'{relative}' resolves outside the staging folder", BundleFormat.PayloadPrefix + relative);
    }

    /// <summary>Returns whether the folder was created (and so is removed again on failure).</summary>
    private static bool PrepareStaging(string staging)
    {
        if (Directory.Exists(staging))
        {
            return Directory.EnumerateFileSystemEntries(staging).Any()
                ? throw new IOException($"staging folder '{staging}' is not empty; the reader unpacks only into an empty or new folder")
                : false;
        }

        Directory.CreateDirectory(staging);
        return true;
    }

    private static void RestoreStaging(string staging, bool created)
    {
        if (!Directory.Exists(staging))
        {
            return;
        }

        if (created)
        {
            Directory.Delete(staging, recursive: true);
            return;
        }

        foreach (var entry in new DirectoryInfo(staging).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo dir)
            {
                dir.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }
    }

    private static bool IsRegularFile(TarEntryType type) => type is TarEntryType.RegularFile or TarEntryType.V7RegularFile;

    /// <summary>The tar reader with the error mapping: a tar or gzip error is "truncated" when the input ran out, else "malformed".</summary>
    private sealed class Archive(GuardedReadStream source, GuardedReadStream tarBytes) : IAsyncDisposable
    {
        private readonly TarReader _reader = new(tarBytes, leaveOpen: true);

        public async Task<TarEntry?> NextAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await _reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsFormatError(ex))
            {
                throw Broken(ex, entry: null);
            }
        }

        public async Task<byte[]> ReadAllAsync(TarEntry entry, CancellationToken cancellationToken)
        {
            var bytes = new byte[entry.Length];
            if (bytes.Length > 0)
            {
                await ReadAsync(entry, bytes, cancellationToken).ConfigureAwait(false);
            }

            return bytes;
        }

        /// <summary>Streams one payload entry through <paramref name="buffer"/>, hashing it and writing it to <paramref name="target"/> when given.</summary>
        public async Task CopyAsync(TarEntry entry, BundleFile file, string? target, byte[] buffer, CancellationToken cancellationToken)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            FileStream? output = null;
            if (target is not null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 0, PreallocationSize = file.Size };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = FileMode644;
                }

                output = new FileStream(target, options);
            }

            await using (output)
            {
                for (long left = file.Size; left > 0;)
                {
                    var chunk = buffer.AsMemory(0, (int)Math.Min(buffer.Length, left));
                    await ReadAsync(entry, chunk, cancellationToken).ConfigureAwait(false);
                    hash.AppendData(chunk.Span);
                    if (output is not null)
                    {
                        await output.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    }

                    left -= chunk.Length;
                }

                output?.Flush(flushToDisk: true);
            }

            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (actual != file.Sha256)
            {
                throw new BundleRejectedException(BundleRejectReason.HashMismatch,
                    $"entry '{entry.Name}' has SHA-256 {actual}, the manifest says {file.Sha256}", entry.Name);
            }
        }

        /// <summary>After the first zero block TarReader stops at: the second one must follow, then only zero padding.</summary>
        public async Task CheckEndAsync(CancellationToken cancellationToken)
        {
            var block = new byte[TarBlock];
            long trailing = 0;
            int read;
            while ((read = await tarBytes.ReadAtLeastAsync(block, block.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (block.AsSpan(0, read).ContainsAnyExcept((byte)0))
                {
                    throw new BundleRejectedException(BundleRejectReason.Malformed, "the archive has data after its end-of-archive marker");
                }

                trailing += read;
            }

            if (trailing < TarBlock)
            {
                throw new BundleRejectedException(BundleRejectReason.Truncated, "the archive ends inside its end-of-archive marker (truncated)");
            }
        }

        public async ValueTask DisposeAsync() => await _reader.DisposeAsync().ConfigureAwait(false);

        private async Task ReadAsync(TarEntry entry, Memory<byte> into, CancellationToken cancellationToken)
        {
            try
            {
                await entry.DataStream!.ReadExactlyAsync(into, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsFormatError(ex))
            {
                throw Broken(ex, entry.Name);
            }
        }

        private static bool IsFormatError(Exception ex) =>
            ex is InvalidDataException or EndOfStreamException or InvalidOperationException or FormatException or NotSupportedException or ArgumentOutOfRangeException;

        private BundleRejectedException Broken(Exception ex, string? entry)
        {
            var where = entry is null ? "" : $" in entry '{entry}'";
            return source.SawEnd || tarBytes.SawEnd || ex is EndOfStreamException
                ? new BundleRejectedException(BundleRejectReason.Truncated, $"the archive is truncated{where} ({ex.Message})", entry, ex)
                : new BundleRejectedException(BundleRejectReason.Malformed, $"the archive is not a valid bundle tar{where}: {ex.Message}", entry, ex);
        }
    }
}
