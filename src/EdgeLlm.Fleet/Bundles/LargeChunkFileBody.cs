using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace EdgeLlm.Fleet.Bundles;

/// <summary>
/// The response body of an artifact download: everything as Kestrel does it, except that a file (what the file result
/// sends once it has worked out the range) goes out in 1 MiB pieces rather than Kestrel's 64 KiB ones. Each piece costs a
/// read, a copy into the response pipe, a flush and the thread hand-offs between them; for a bundle of hundreds of
/// megabytes on a busy server those hand-offs, not the copying, were most of the CPU time (docs/benchmarks.md, "Model updates").
/// Memory per download is one pooled 1 MiB buffer.
/// </summary>
internal sealed class LargeChunkFileBody(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
{
    public const int ChunkBytes = 1024 * 1024;

    public Stream Stream => inner.Stream;

    public PipeWriter Writer => inner.Writer;

    /// <summary>Puts this body in front of the request's own one.</summary>
    public static void Install(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var body = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        context.Features.Set<IHttpResponseBodyFeature>(new LargeChunkFileBody(body));
    }

    public void DisableBuffering() => inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public Task CompleteAsync() => inner.CompleteAsync();

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, length);
        var left = count ?? length - offset;
        ArgumentOutOfRangeException.ThrowIfNegative(left, nameof(count));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(left, length - offset, nameof(count));

        await inner.StartAsync(cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(ChunkBytes, Math.Max(left, 1)));
        try
        {
            while (left > 0)
            {
                var read = await RandomAccess.ReadAsync(file, buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), offset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException($"'{path}' ended at byte {offset} while {left} more bytes were to be sent");
                }

                await inner.Stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                offset += read;
                left -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
