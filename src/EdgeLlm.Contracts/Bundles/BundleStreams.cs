using System.Security.Cryptography;

namespace EdgeLlm.Contracts.Bundles;

/// <summary>
/// A read-only, forward-only view of the archive that counts bytes, refuses to read past <see cref="Limit"/> and remembers
/// whether the source ran dry (so a tar error can be told apart from a truncated file). Replays <c>prefix</c> first: the
/// bytes read to sniff the gzip magic.
/// </summary>
internal sealed class GuardedReadStream(Stream inner, ReadOnlyMemory<byte> prefix, BundleRejectReason overLimit) : Stream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public long BytesRead { get; private set; }

    /// <summary>Most bytes that may be read in all; reading more throws <see cref="BundleRejectedException"/> with the reason given.</summary>
    public long Limit { get; set; } = long.MaxValue;

    public bool SawEnd { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        buffer = buffer[..Clamp(buffer.Length)];
        return Count(TryReadPrefix(buffer, out var read) ? read : inner.Read(buffer));
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        buffer = buffer[..Clamp(buffer.Length)];
        return Count(TryReadPrefix(buffer.Span, out var read) ? read : await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private bool TryReadPrefix(Span<byte> buffer, out int read)
    {
        read = Math.Min(buffer.Length, _prefix.Length);
        _prefix.Span[..read].CopyTo(buffer);
        _prefix = _prefix[read..];
        return read > 0;
    }

    // A read is allowed one byte past the limit, so an archive of exactly the allowed length is not mistaken for a longer one.
    private int Clamp(int requested)
    {
        var left = Limit - BytesRead;
        if (left < 0)
        {
            throw Over();
        }

        return left >= requested ? requested : (int)(left + 1);
    }

    private int Count(int read)
    {
        if (read == 0)
        {
            SawEnd = true;
        }

        BytesRead += read;
        if (BytesRead > Limit)
        {
            throw Over();
        }

        return read;
    }

    private BundleRejectedException Over() => new(overLimit, overLimit == BundleRejectReason.DecompressionBomb
        ? $"the gzip data decompresses to more than the {Limit} bytes the manifest allows (decompression bomb)"
        : $"the archive is longer than the {Limit} bytes the manifest allows");
}

/// <summary>
/// Hashes a source file as the tar writer copies it. Reports itself seekable so <see cref="System.Formats.Tar.TarWriter"/>
/// takes the size from <see cref="Length"/> and streams it, but it never seeks.
/// </summary>
internal sealed class HashingReadStream(string path) : Stream
{
    private readonly FileStream _inner = new(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.SequentialScan });
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public long BytesRead { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _inner.Length;

    public override long Position { get => _inner.Position; set => throw new NotSupportedException(); }

    public string HashHex() => Convert.ToHexStringLower(_hash.GetHashAndReset());

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = _inner.Read(buffer);
        _hash.AppendData(buffer[..read]);
        BytesRead += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _hash.AppendData(buffer.Span[..read]);
        BytesRead += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) =>
        origin == SeekOrigin.Current && offset == 0 ? _inner.Position : throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
