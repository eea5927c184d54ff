using System.Buffers;
using System.Security.Cryptography;
using EdgeLlm.Fleet.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Bundles;

/// <summary>An upload is over <see cref="BundleRegistryOptions.MaxBundleBytes"/>.</summary>
internal sealed class ArtifactTooLargeException(long maxBytes)
    : Exception($"the bundle is larger than {maxBytes} bytes (Fleet:MaxBundleBytes)")
{
    public long MaxBytes { get; } = maxBytes;
}

/// <summary>
/// Content-addressed artifact files: <c>{root}/{sha256}</c>, written once and never changed. An upload is streamed to
/// <c>{root}/.incoming/</c> (the same volume, so the final rename is atomic) while the server hashes it; only a
/// verified upload is renamed into place, so a file named by a SHA-256 always has exactly that content.
/// </summary>
internal sealed class ArtifactStore
{
    public const string IncomingFolder = ".incoming";
    private const int BufferBytes = 128 * 1024;

    public ArtifactStore(IOptions<BundleRegistryOptions> options, IOptions<FleetOptions> fleet)
        : this(options.Value.ResolveArtifactsDir(fleet.Value))
    {
    }

    internal ArtifactStore(string root) => Root = root;

    /// <summary>The artifacts folder, absolute.</summary>
    public string Root { get; }

    /// <summary>True for 64 lowercase hex digits.</summary>
    public static bool IsSha256(string? value) =>
        value is { Length: 64 } && value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    public string PathOf(string sha256) =>
        IsSha256(sha256) ? Path.Combine(Root, sha256) : throw new ArgumentException($"'{sha256}' is not a SHA-256", nameof(sha256));

    /// <summary>
    /// Streams <paramref name="body"/> to a new temporary file, hashing it on the way; never more than
    /// <paramref name="maxBytes"/> (<see cref="ArtifactTooLargeException"/>, and the temporary file is gone).
    /// </summary>
    public async Task<IncomingArtifact> ReceiveAsync(Stream body, long maxBytes, CancellationToken cancellationToken)
    {
        var incoming = Path.Combine(Root, IncomingFolder);
        Directory.CreateDirectory(incoming);
        var temp = Path.Combine(incoming, $"{Guid.NewGuid():N}.part");
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
            {
                int read;
                while ((read = await body.ReadAsync(buffer.AsMemory(0, BufferBytes), cancellationToken)) > 0)
                {
                    size += read;
                    if (size > maxBytes)
                    {
                        throw new ArtifactTooLargeException(maxBytes);
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }

                // On disk before it can be renamed into place and registered.
                file.Flush(flushToDisk: true);
            }

            return new IncomingArtifact(this, temp, Convert.ToHexStringLower(hash.GetHashAndReset()), size);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Renames a received file to its address; when that address exists already (same bytes), the copy is dropped.</summary>
    internal void Commit(IncomingArtifact artifact)
    {
        var target = PathOf(artifact.Sha256);
        try
        {
            File.Move(artifact.TempPath, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            File.Delete(artifact.TempPath);
        }
    }
}

/// <summary>A received upload in <c>.incoming/</c>: committed to its address, or deleted when disposed.</summary>
internal sealed class IncomingArtifact(ArtifactStore store, string tempPath, string sha256, long size) : IDisposable
{
    private bool _done;

    public string TempPath { get; } = tempPath;

    /// <summary>SHA-256 of the received bytes, as the server computed it.</summary>
    public string Sha256 { get; } = sha256;

    public long Size { get; } = size;

    /// <summary>Moves the file to <c>{root}/{sha256}</c>.</summary>
    public void Commit()
    {
        store.Commit(this);
        _done = true;
    }

    public void Dispose()
    {
        if (!_done)
        {
            File.Delete(TempPath);
            _done = true;
        }
    }
}
