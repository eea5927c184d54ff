using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace EdgeLlm.Fleet.Bundles;

/// <summary>
/// The response body of an artifact download: everything as Kestrel does it, except that a file (what the file result
/// sends once it has worked out the range) goes out in 1 MiB pieces rather than Kestrel's 64 KiB ones, each read from
/// the file straight into the response pipe's memory on the thread that sends it. Each piece costs a read, a flush and
/// the thread hand-offs around them; for a bundle of hundreds of megabytes on a busy server those hand-offs, not the
/// copying, were most of the CPU time, and reading into the pipe saves one copy of every byte (docs/benchmarks.md,
/// "Model updates"). Memory per download is the pipe's 1 MiB segment.
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
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, length);
        var left = count ?? length - offset;
        ArgumentOutOfRangeException.ThrowIfNegative(left, nameof(count));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(left, length - offset, nameof(count));

        await inner.StartAsync(cancellationToken).ConfigureAwait(false);
        var writer = inner.Writer;
        while (left > 0)
        {
            // Straight into the response pipe's memory, read where the thread already is: a read from the page cache
            // takes less than the hand-off to another thread would.
            var want = (int)Math.Min(ChunkBytes, left);
            var memory = writer.GetMemory(want);
            var read = RandomAccess.Read(file, memory.Span[..Math.Min(want, memory.Length)], offset);
            if (read == 0)
            {
                throw new IOException($"'{path}' ended at byte {offset} while {left} more bytes were to be sent");
            }

            writer.Advance(read);
            offset += read;
            left -= read;
            var flushed = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCanceled || flushed.IsCompleted)
            {
                // The client went away: nothing more can be sent.
                return;
            }
        }
    }
}
