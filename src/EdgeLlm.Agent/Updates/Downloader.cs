using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Contracts.Fleet;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Win32.SafeHandles;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// Downloads an artifact by SHA-256 into <c>{data dir}/staging/{sha256}.part</c> with HTTP Range, and renames it to
/// <c>staging/{sha256}.edgebundle</c> once its SHA-256 matches. Any interruption (link loss, a stalled connection, the end
/// of the maintenance window, kill -9, power loss) resumes from the part file's length: the part file is flushed to disk
/// every <see cref="UpdateOptions.FlushBytes"/> (at most once per <see cref="UpdateOptions.FlushIntervalMs"/>), and
/// whatever a crash left in it is checked by the final SHA-256. On a
/// mismatch the part file is deleted and the download starts over once; a second mismatch fails. Bytes pass through a
/// token bucket (<see cref="UpdateOptions.MaxBytesPerSecond"/>) and only inside <see cref="UpdateOptions.MaintenanceWindow"/>.
/// Memory use is eight fixed 2 MiB buffers, whatever the artifact's size.
/// </summary>
/// <remarks>
/// Speed (docs/benchmarks.md, "Model updates"): while one buffer fills from the connection, the ones before it are
/// hashed and written on the thread pool (hash and write at once, each in order), and the periodic fsync runs in the
/// background too, so none of them stalls the connection; seven buffers in flight let the receive run ahead of a hash
/// or a write that waits for a core. Whole buffers keep the per-chunk cost low (with 64 KiB the receive loop, not the
/// disk, was the limit); the written bytes stream out of the page cache behind the writes (<see cref="PartFileWriter"/>).
/// Flushes and progress reports wait for their intervals (<see cref="UpdateOptions.FlushIntervalMs"/>,
/// <see cref="UpdateOptions.ProgressIntervalMs"/>): on a fast link, an fsync every 4 MiB stalled the writes beside it,
/// and a stored event every percent took a fifth of the receive loop; the reports left are delivered off it, in order.
/// </remarks>
internal sealed class Downloader
{
    public const string StagingFolder = "staging";
    public const string PartExtension = ".part";
    public const string BundleExtension = ".edgebundle";
    private const int BufferBytes = 2 * 1024 * 1024;

    // Eight: one fills from the connection while up to seven before it are hashed and written, so a write that waits on
    // the disk or a hash that waits for a core does not stop the receive at once (three were too few on two cores).
    private const int BufferCount = 8;
    private const int MinFillBytes = 64 * 1024;

    private readonly HttpClient _http;
    private readonly UpdateOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<Downloader> _logger;
    private readonly IDownloadProgress? _progress;
    private readonly Random _random;
    private readonly DownloadWindow _window;
    private readonly Action<SafeFileHandle> _flushToDisk;

    public Downloader(FleetLink link, IOptions<UpdateOptions> options, TimeProvider time, ILogger<Downloader> logger, IDownloadProgress? progress = null)
        : this(link.Http, options.Value, time, logger, progress)
    {
    }

    internal Downloader(
        HttpClient http, UpdateOptions options, TimeProvider time, ILogger<Downloader> logger, IDownloadProgress? progress = null, Random? random = null,
        Action<SafeFileHandle>? flushToDisk = null)
    {
        _flushToDisk = flushToDisk ?? RandomAccess.FlushToDisk;
        _http = http;
        _options = options;
        _time = time;
        _logger = logger;
        _progress = progress;
        _random = random ?? Random.Shared;
        _window = DownloadWindow.From(options.MaintenanceWindow);
    }

    private enum Outcome
    {
        Complete,
        Failed,
        WindowClosed,
    }

    /// <summary>Payload bytes this object received over the network (all downloads, all attempts).</summary>
    public long BytesReceived { get; private set; }

    /// <summary>HTTP requests this object sent.</summary>
    public int Requests { get; private set; }

    /// <summary>Bytes written to part files (all downloads, all attempts): what an attempt kept of what it received.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Of <see cref="BytesWritten"/>, those written past the page cache.</summary>
    public long DirectBytesWritten { get; private set; }

    /// <summary>Flushes of part files to disk while bytes were arriving (not counting the one that ends each attempt).</summary>
    public int Flushes { get; private set; }

    /// <summary>Buffered writes whose writeback was put off because a flush was in flight (<see cref="PartFileWriter.FlushInFlight"/>).</summary>
    public int WritesHeldForFlush { get; private set; }

    public static string PartPath(string dataDir, string sha256) => Path.Combine(dataDir, StagingFolder, sha256 + PartExtension);

    public static string BundlePath(string dataDir, string sha256) => Path.Combine(dataDir, StagingFolder, sha256 + BundleExtension);

    /// <summary>Downloads the artifact from the device's fleet server; returns the path of the verified <c>.edgebundle</c>.</summary>
    public Task<string> DownloadAsync(FleetCredentials credentials, string dataDir, string sha256, CancellationToken cancellationToken) =>
        DownloadAsync(() => FleetLink.Request(HttpMethod.Get, credentials, BundleRoutes.Artifact(sha256)), dataDir, sha256, cancellationToken);

    /// <summary>
    /// Downloads the artifact <paramref name="newRequest"/> names (a GET with whatever authorization it needs; the Range
    /// header is added here); returns the path of the verified <c>.edgebundle</c>, at once when it is there already.
    /// </summary>
    /// <exception cref="DownloadFailedException">The server refused or does not know the artifact, its bytes hashed wrong twice, or too many attempts in a row kept no bytes (nothing arrived, or the disk refused it).</exception>
    public async Task<string> DownloadAsync(Func<HttpRequestMessage> newRequest, string dataDir, string sha256, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(newRequest);
        if (sha256 is not { Length: 64 } || !sha256.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException($"'{sha256}' is not a SHA-256 (64 lowercase hex digits)", nameof(sha256));
        }

        var bundle = BundlePath(dataDir, sha256);
        if (File.Exists(bundle))
        {
            // Only ever renamed into place after its hash matched.
            return bundle;
        }

        Directory.CreateDirectory(Path.Combine(dataDir, StagingFolder));
        using var part = new PartState(PartPath(dataDir, sha256), sha256);
        var buffers = new ChunkBuffers(BufferCount, BufferBytes);
        var limiter = new DownloadRateLimiter(_options.MaxBytesPerSecond, _options.BurstBytes, _time);
        var backoff = new Backoff(TimeSpan.FromMilliseconds(_options.RetryMinMs), TimeSpan.FromMilliseconds(_options.RetryMaxMs), _random);
        var restarted = false;
        var fruitless = 0;
        while (true)
        {
            await WaitForWindowAsync(sha256, cancellationToken).ConfigureAwait(false);
            // Progress is bytes kept in the part file, not bytes received: a full disk receives on every attempt and keeps none.
            var before = BytesWritten;
            var (outcome, error) = await AttemptAsync(newRequest, part, limiter, buffers, cancellationToken).ConfigureAwait(false);
            switch (outcome)
            {
                case Outcome.Complete when part.Hash == sha256:
                    File.Move(part.Path, bundle, overwrite: true);
                    DownloadLog.Finished(_logger, sha256, part.Length, BytesReceived);
                    return bundle;
                case Outcome.Complete:
                    DownloadLog.HashMismatch(_logger, sha256, part.Hash);
                    var actual = part.Hash;
                    part.Delete();
                    if (restarted)
                    {
                        throw new DownloadFailedException(
                            $"artifact {sha256}: the downloaded bytes hash to {actual} again after starting over; the server's copy is damaged or not this artifact");
                    }

                    restarted = true;
                    continue;
                case Outcome.WindowClosed:
                    continue;
            }

            if (BytesWritten > before)
            {
                fruitless = 0;
                backoff.Reset();
            }
            else if (++fruitless >= _options.MaxAttemptsWithoutProgress)
            {
                throw new DownloadFailedException($"artifact {sha256}: {fruitless} attempts in a row kept no bytes; last error: {error}");
            }

            var wait = backoff.Next();
            DownloadLog.Interrupted(_logger, sha256, part.Length, fruitless, error, wait.TotalMilliseconds);
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WaitForWindowAsync(string sha256, CancellationToken cancellationToken)
    {
        // A few rounds at most: after one wait the window is open unless the clock jumped (a time-zone or clock change).
        for (var round = 0; round < 4; round++)
        {
            var wait = _window.UntilOpen(_time.GetUtcNow(), _time.LocalTimeZone);
            if (wait <= TimeSpan.Zero)
            {
                return;
            }

            DownloadLog.WaitingForWindow(_logger, sha256, wait, _window.ToString());
            _progress?.Waiting(sha256, wait);
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<(Outcome Outcome, string Error)> AttemptAsync(
        Func<HttpRequestMessage> newRequest, PartState part, DownloadRateLimiter limiter, ChunkBuffers buffers, CancellationToken cancellationToken)
    {
        var file = part.Open();
        await using (file.ConfigureAwait(false))
        {
            if (part.Total is { } known && part.Length == known)
            {
                return (Outcome.Complete, "");
            }

            try
            {
                using var request = newRequest();
                request.Headers.Range = new RangeHeaderValue(part.Length, null);
                Requests++;
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                if (Refusal(response, file, part) is { } refusal)
                {
                    return refusal;
                }

                return await ReceiveAsync(response, file, part, limiter, buffers, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                return (Outcome.Failed, ex is OperationCanceledException ? $"no data for {_options.StallTimeoutSeconds} s" : ex.Message);
            }
            finally
            {
                // The resume point is the file's length: make what it holds durable before anything else happens.
                file.Flush(flushToDisk: true);
            }
        }
    }

    /// <summary>Sets up the part file for the answer; an outcome when there is nothing to receive.</summary>
    private (Outcome Outcome, string Error)? Refusal(HttpResponseMessage response, FileStream file, PartState part)
    {
        switch (response.StatusCode)
        {
            case HttpStatusCode.PartialContent when response.Content.Headers.ContentRange is { From: { } from, Length: { } length } && from == part.Length:
                part.Total = length;
                return null;
            case HttpStatusCode.PartialContent:
                return (Outcome.Failed, $"the server answered a range from byte {part.Length} with Content-Range '{response.Content.Headers.ContentRange}'");
            case HttpStatusCode.OK:
                if (part.Length > 0)
                {
                    DownloadLog.RangeIgnored(_logger, part.Sha256);
                    part.Truncate(file);
                }

                part.Total = response.Content.Headers.ContentLength;
                return null;
            case HttpStatusCode.RequestedRangeNotSatisfiable:
                // The part file is as long as the artifact (complete, unverified) or longer (not this artifact): check or start over.
                part.Total = response.Content.Headers.ContentRange?.Length;
                if (part.Total != part.Length)
                {
                    part.Truncate(file);
                    return (Outcome.Failed, $"the part file was longer than the artifact ({part.Total?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "size unknown"})");
                }

                return (Outcome.Complete, "");
            case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                throw new DownloadFailedException($"artifact {part.Sha256}: the fleet server refused the device credential ({(int)response.StatusCode}); enroll the device again");
            case HttpStatusCode.NotFound:
                throw new DownloadFailedException($"artifact {part.Sha256}: the fleet server has no such artifact (404)");
            default:
                return (Outcome.Failed, $"HTTP {(int)response.StatusCode}");
        }
    }

    private async Task<(Outcome Outcome, string Error)> ReceiveAsync(
        HttpResponseMessage response, FileStream file, PartState part, DownloadRateLimiter limiter, ChunkBuffers buffers, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var bodyScope = body.ConfigureAwait(false);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var chunk = limiter.Unlimited ? BufferBytes : Math.Min(BufferBytes, limiter.Burst);
        var handle = file.SafeFileHandle;
        var writer = new PartFileWriter(handle, _options.DirectWrites);
        // The chunks before this one are hashed and written in the background while this one arrives, each buffer in turn.
        // Hashes run in order, one after the other, and so do writes; a chunk is done when both are.
        var inFlight = new Queue<Task>();
        var hashed = Task.CompletedTask;
        var written = Task.CompletedTask;
        var flushing = Task.CompletedTask;
        var reports = new ReportChain(_progress);
        var offset = part.Length;
        try
        {
            var sinceFlush = 0L;
            var flushedAt = _time.GetTimestamp();
            var reported = Report(reports, part, offset);
            while (true)
            {
                if (_window.UntilOpen(_time.GetUtcNow(), _time.LocalTimeZone) > TimeSpan.Zero)
                {
                    return (Outcome.WindowClosed, "");
                }

                // This buffer is free (and its bytes are in the file) once the chunk that last used it is done; a failed write
                // ends the attempt here, with the part file's length as the resume point.
                while (inFlight.Count >= BufferCount - 1)
                {
                    await inFlight.Dequeue().ConfigureAwait(false);
                }

                var buffer = buffers.Next();
                var (read, failure) = await FillAsync(body, buffer[..FillTarget(offset, part.Total, chunk)], stall).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                await limiter.TakeAsync(read, cancellationToken).ConfigureAwait(false);
                BytesReceived += read;
                if (offset + read > part.Total)
                {
                    part.Truncate(file);
                    return (Outcome.Failed, "the server sent more bytes than the artifact has");
                }

                (hashed, written) = (HashAfter(hashed, part, buffer[..read]), WriteAfter(written, writer, buffer[..read], offset));
                inFlight.Enqueue(ChunkDoneAsync(hashed, written, part));
                offset += read;
                sinceFlush += read;
                if (sinceFlush >= _options.FlushBytes && _time.GetElapsedTime(flushedAt).TotalMilliseconds >= _options.FlushIntervalMs)
                {
                    // The previous fsync must be done (its failure surfaces here as the IOException that ends the attempt),
                    // so at most two flush periods are not yet durable when the power goes.
                    await flushing.ConfigureAwait(false);
                    flushing = Task.Run(() => Flush(writer, handle), CancellationToken.None);
                    Flushes++;
                    sinceFlush = 0;
                    flushedAt = _time.GetTimestamp();
                }

                // Progress counts what arrived: the chunks in flight are hashed and written before the attempt ends.
                reported = ReportIfMoved(reports, part, offset, reported);

                // The bytes that arrived before the connection failed are being written; now the attempt ends.
                failure?.Throw();
            }

            while (inFlight.Count > 0)
            {
                await inFlight.Dequeue().ConfigureAwait(false);
            }

            ReportIfMoved(reports, part, part.Length, reported);

            // A 200 without Content-Length ends with the stream.
            part.Total ??= part.Length;
            return part.Length == part.Total
                ? (Outcome.Complete, "")
                : (Outcome.Failed, $"the connection closed at byte {part.Length} of {part.Total}");
        }
        finally
        {
            // The file is flushed again and closed after this returns: the write and the fsync in flight must be done by
            // then. Their errors, if any, do not matter any more: the attempt already ended, and the final flush reports its own.
            await Task.WhenAll(hashed, written).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await flushing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await reports.Last.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            BytesWritten += writer.DirectBytes + writer.BufferedBytes;
            WritesHeldForFlush += writer.WritesHeld;
            DirectBytesWritten += writer.DirectBytes;
            if (writer.DirectRefusal is { } refusal)
            {
                DownloadLog.DirectWritesRefused(_logger, part.Sha256, refusal);
            }

            if (writer.WritebackRefusal is { } refused)
            {
                DownloadLog.WritebackRefused(_logger, part.Sha256, refused);
            }
        }
    }

    /// <summary>The periodic fsync, run beside the writes; the writer does not wait for writeback meanwhile.</summary>
    private void Flush(PartFileWriter writer, SafeFileHandle handle)
    {
        writer.FlushInFlight = true;
        try
        {
            _flushToDisk(handle);
        }
        finally
        {
            writer.FlushInFlight = false;
        }
    }

    /// <summary>Hashes one chunk on the thread pool once the chunk before it is hashed.</summary>
    private static Task HashAfter(Task previous, PartState part, ReadOnlyMemory<byte> bytes) =>
        previous.ContinueWith(
            done =>
            {
                done.GetAwaiter().GetResult();
                part.Appended(bytes.Span);
            },
            CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

    /// <summary>Writes one chunk on the thread pool once the chunk before it is written; after a failed write, none is.</summary>
    private static Task WriteAfter(Task previous, PartFileWriter writer, ReadOnlyMemory<byte> bytes, long offset) =>
        previous.ContinueWith(
            done =>
            {
                done.GetAwaiter().GetResult();
                writer.Write(bytes, offset);
            },
            CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

    /// <summary>
    /// A chunk is done when it is hashed and written. A failed write leaves the hash ahead of the file: the part state
    /// forgets its length, so the next attempt hashes the file again.
    /// </summary>
    private static async Task ChunkDoneAsync(Task hashed, Task written, PartState part)
    {
        try
        {
            await Task.WhenAll(hashed, written).ConfigureAwait(false);
        }
        catch
        {
            part.Forget();
            throw;
        }
    }

    /// <summary>
    /// How much to collect before writing: a whole buffer, but, on an artifact whose percent is smaller than a buffer, no
    /// further than the next percent (at least <see cref="MinFillBytes"/>), so that progress still moves by the percent;
    /// and ending on a <see cref="PartFileWriter.Alignment"/> boundary, so that the chunks after it can be written
    /// directly. On a larger artifact a buffer never spans a whole percent, and cutting the fill that crosses each percent
    /// would add a short chunk per percent (four in ten more chunks for an 868 MB artifact).
    /// </summary>
    internal static int FillTarget(long offset, long? total, int chunk)
    {
        var end = offset + chunk;
        if (total is { } known && known > 0 && known / 100 < chunk)
        {
            var nextPercent = (long)((Math.Min(100, offset * 100 / known) + 1) * (decimal)known / 100);
            end = Math.Clamp(nextPercent, offset + Math.Min(MinFillBytes, chunk), end);
        }

        var aligned = end / PartFileWriter.Alignment * PartFileWriter.Alignment;
        return (int)((aligned > offset ? aligned : end) - offset);
    }

    /// <summary>
    /// Reads until <paramref name="buffer"/> is full or the body ends. One socket read returns only what has arrived (tens
    /// of KiB on loopback), and each piece costs a write on the thread pool, a hash call and the bookkeeping: whole
    /// buffers keep that cost per MiB. A failure after some bytes came is returned with them, so they are kept.
    /// </summary>
    private async Task<(int Read, System.Runtime.ExceptionServices.ExceptionDispatchInfo? Failure)> FillAsync(
        Stream body, Memory<byte> buffer, CancellationTokenSource stall)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            int read;
            try
            {
                stall.CancelAfter(TimeSpan.FromSeconds(_options.StallTimeoutSeconds));
                read = await body.ReadAsync(buffer[filled..], stall.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (filled > 0 && ex is HttpRequestException or IOException or OperationCanceledException)
            {
                return (filled, System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex));
            }

            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return (filled, null);
    }

    /// <summary>Reports the part's progress at <paramref name="bytes"/>; returns what was reported.</summary>
    private (int? Percent, long At) Report(ReportChain reports, PartState part, long bytes)
    {
        var progress = new DownloadProgress(part.Sha256, bytes, part.Total);
        reports.Post(progress);
        return (progress.Percent, _time.GetTimestamp());
    }

    /// <summary>
    /// Reports the part's progress when its percent moved since <paramref name="reported"/> and, unless it reached 100,
    /// <see cref="UpdateOptions.ProgressIntervalMs"/> passed: each report is an event to the fleet and on MQTT, and a
    /// stored one costs milliseconds, more while the disk is busy with the download. Returns what was reported last.
    /// </summary>
    private (int? Percent, long At) ReportIfMoved(ReportChain reports, PartState part, long bytes, (int? Percent, long At) reported)
    {
        var percent = new DownloadProgress(part.Sha256, bytes, part.Total).Percent;
        return percent == reported.Percent || (percent != 100 && _time.GetElapsedTime(reported.At).TotalMilliseconds < _options.ProgressIntervalMs)
            ? reported
            : Report(reports, part, bytes);
    }

    /// <summary>
    /// An attempt's progress reports, delivered in order on the thread pool, off the receive loop: a report stores an event
    /// (a commit of agent.db, whose fsync waits behind the download's own writes: tens of milliseconds and more on the
    /// benchmark machine).
    /// The attempt waits for the last before it ends, so <c>downloading 100%</c> comes before whatever follows the download.
    /// </summary>
    private sealed class ReportChain(IDownloadProgress? progress)
    {
        public Task Last { get; private set; } = Task.CompletedTask;

        public void Post(DownloadProgress report)
        {
            if (progress is not null)
            {
                // After the one before it, whether or not that one threw.
                Last = Last.ContinueWith(_ => progress.Report(report), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Aligned buffers used in turn: one fills from the connection while the ones before it are hashed and written.</summary>
    private sealed class ChunkBuffers(int count, int length)
    {
        private readonly AlignedBuffer[] _buffers = [.. Enumerable.Range(0, count).Select(_ => new AlignedBuffer(length))];
        private int _next;

        public Memory<byte> Next()
        {
            var buffer = _buffers[_next];
            _next = (_next + 1) % _buffers.Length;
            return buffer.Memory;
        }
    }

    /// <summary>
    /// The part file and the SHA-256 of its first <see cref="Length"/> bytes, kept as it grows so the file is read back
    /// at most once per download (when a run resumes a file an earlier run left).
    /// </summary>
    private sealed class PartState(string path, string sha256) : IDisposable
    {
        private IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public string Path { get; } = path;

        public string Sha256 { get; } = sha256;

        /// <summary>Bytes in the part file (and in the hash).</summary>
        public long Length { get; private set; } = -1;

        /// <summary>The artifact's size, once a server said it.</summary>
        public long? Total { get; set; }

        public string Hash => Convert.ToHexStringLower(_hash.GetCurrentHash());

        /// <summary>Opens the part file positioned at its end, hashing what an earlier run left in it.</summary>
        public FileStream Open()
        {
            var file = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 0, FileOptions.Asynchronous);
            try
            {
                if (file.Length != Length)
                {
                    Rehash(file);
                }

                file.Position = Length;
                return file;
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }

        public void Appended(ReadOnlySpan<byte> bytes)
        {
            // Forgotten (a write failed while later chunks were hashed): the next attempt hashes the file again.
            if (Length < 0)
            {
                return;
            }

            _hash.AppendData(bytes);
            Length += bytes.Length;
        }

        /// <summary>Empties the open part file.</summary>
        public void Truncate(FileStream file)
        {
            file.SetLength(0);
            file.Flush(flushToDisk: true);
            Reset();
        }

        /// <summary>After a failed write: the file's content is unknown, so the next <see cref="Open"/> hashes it again.</summary>
        public void Forget() => Length = -1;

        public void Delete()
        {
            File.Delete(Path);
            Reset();
        }

        public void Dispose() => _hash.Dispose();

        private void Reset()
        {
            _hash.Dispose();
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Length = 0;
        }

        private void Rehash(FileStream file)
        {
            Reset();
            var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
            try
            {
                // Up to the length seen now, not to the end of the stream: a part path that is not a regular file (a
                // device, a pipe) would otherwise be read without end.
                var left = file.Length;
                file.Position = 0;
                int read;
                while (left > 0 && (read = file.Read(buffer, 0, (int)Math.Min(BufferBytes, left))) > 0)
                {
                    Appended(buffer.AsSpan(0, read));
                    left -= read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
