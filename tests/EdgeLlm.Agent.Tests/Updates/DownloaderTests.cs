using System.Security.Cryptography;
using System.Threading.Channels;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>A fake clock that tells the test about every timer a delay creates, with its due time.</summary>
internal sealed class SignalingTime(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _timers.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The due time of the next timer created, waiting (bounded) for it.</summary>
    public async Task<TimeSpan> NextTimerAsync(Task downloading)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var next = _timers.Reader.ReadAsync(limit.Token).AsTask();
        var first = await Task.WhenAny(next, downloading);
        if (first == downloading)
        {
            await downloading;
            throw new InvalidOperationException("the download ended without waiting");
        }

        return await next;
    }
}

internal sealed class RecordingProgress(TimeProvider time) : IDownloadProgress
{
    private readonly long _start = time.GetTimestamp();

    public List<(TimeSpan Elapsed, DownloadProgress Progress)> Reports { get; } = [];

    public List<TimeSpan> Waits { get; } = [];

    public void Report(DownloadProgress progress)
    {
        lock (Reports)
        {
            Reports.Add((time.GetElapsedTime(_start), progress));
        }
    }

    public void Waiting(string sha256, TimeSpan wait) => Waits.Add(wait);
}

public sealed class DownloaderTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly byte[] _content = RandomNumberGenerator.GetBytes(2 * 1024 * 1024 + 12_345);
    private readonly SignalingTime _time = new(new DateTimeOffset(2026, 3, 1, 1, 0, 0, TimeSpan.Zero));
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private string Sha => Convert.ToHexStringLower(SHA256.HashData(_content));

    // The fake clock stands still unless a test moves it: no intervals, so every percent is reported and every 64 KiB flushed.
    private Downloader NewDownloader(UpdateOptions? options = null, IDownloadProgress? progress = null) =>
        new(_http, options ?? Quick(), _time, NullLogger<Downloader>.Instance, progress, new Random(1));

    private static UpdateOptions Quick() => new() { RetryMinMs = 0, RetryMaxMs = 0, FlushBytes = 64 * 1024, FlushIntervalMs = 0, ProgressIntervalMs = 0 };

    [Fact]
    public async Task Interrupted_five_times_it_resumes_each_time_and_transfers_the_size_once()
    {
        using var server = new DownloadTestServer(_content) { CutsLeft = 5, CutAfterBytes = 300_000 };
        var progress = new RecordingProgress(_time);
        var downloader = NewDownloader(progress: progress);

        var path = await downloader.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);

        Assert.Equal(Downloader.BundlePath(_dir.Path, Sha), path);
        Assert.Equal(_content, await File.ReadAllBytesAsync(path));
        Assert.False(File.Exists(Downloader.PartPath(_dir.Path, Sha)));
        Assert.Equal(6, downloader.Requests);
        Assert.Equal(_content.Length, downloader.BytesReceived);
        Assert.True(server.BytesSent < _content.Length * 1.5, $"the server sent {server.BytesSent} bytes for {_content.Length}");
        var starts = server.Ranges.Select(r => long.Parse(r["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        // Each attempt resumes exactly where the cut one stopped: bytes that arrived before a drop are kept, although
        // the receive loop collects whole 1 MiB buffers and every cut falls inside one.
        Assert.Equal([0, 300_000, 600_000, 900_000, 1_200_000, 1_500_000], starts);
        var states = progress.Reports.Select(r => r.Progress.State).ToList();
        Assert.All(progress.Reports, r => Assert.Equal($"downloading {r.Progress.Bytes * 100 / _content.Length}%", r.Progress.State));
        Assert.True(states.Count >= 20, string.Join(", ", states));
        Assert.Equal("downloading 100%", states[^1]);
        Assert.True(progress.Reports.Zip(progress.Reports.Skip(1)).All(p => p.Second.Progress.Bytes >= p.First.Progress.Bytes));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_new_downloader_resumes_the_part_file_a_killed_one_left(bool directWrites)
    {
        using var server = new DownloadTestServer(_content);
        var left = 777_777;
        Directory.CreateDirectory(Path.Combine(_dir.Path, Downloader.StagingFolder));
        await File.WriteAllBytesAsync(Downloader.PartPath(_dir.Path, Sha), _content.AsMemory(0, left).ToArray());
        var options = Quick();
        options.DirectWrites = directWrites;
        var downloader = NewDownloader(options);

        var path = await downloader.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);

        Assert.Equal(_content, await File.ReadAllBytesAsync(path));
        Assert.Equal([$"bytes={left}-"], server.Ranges);
        Assert.Equal(_content.Length - left, downloader.BytesReceived);
        Assert.Equal(_content.Length - left, server.BytesSent);
        // Resumed at an odd offset, the first chunk and the tail go through the page cache, everything between past it.
        if (directWrites)
        {
            Assert.InRange(downloader.DirectBytesWritten, 1024 * 1024, _content.Length - left - 1);
        }
        else
        {
            Assert.Equal(0, downloader.DirectBytesWritten);
        }
    }

    [Fact]
    public async Task A_cancelled_download_keeps_its_part_file_and_the_next_run_continues_from_it()
    {
        // The server stops sending at 40 % until the test has cancelled: the cancel lands mid-download, however late the
        // progress report that triggers it runs.
        var paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var server = new DownloadTestServer(_content) { Pause = paused, PauseAfterBytes = (int)(_content.Length * 0.45) };
        using var cancel = new CancellationTokenSource();
        var progress = new CancelAt(cancel, percent: 40);
        var first = NewDownloader(progress: progress);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.DownloadAsync(server.NewRequest, _dir.Path, Sha, cancel.Token));
        paused.TrySetResult();
        var kept = new FileInfo(Downloader.PartPath(_dir.Path, Sha)).Length;
        Assert.Equal(first.BytesReceived, kept);
        Assert.InRange(kept, _content.Length * 0.4, _content.Length - 1);

        var second = NewDownloader();
        var path = await second.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);

        Assert.Equal(_content, await File.ReadAllBytesAsync(path));
        Assert.Equal($"bytes={kept}-", server.Ranges[^1]);
        Assert.Equal(_content.Length - kept, second.BytesReceived);
    }

    [Fact]
    public async Task A_part_file_longer_than_the_artifact_is_discarded_and_downloaded_again()
    {
        using var server = new DownloadTestServer(_content);
        Directory.CreateDirectory(Path.Combine(_dir.Path, Downloader.StagingFolder));
        await File.WriteAllBytesAsync(Downloader.PartPath(_dir.Path, Sha), new byte[_content.Length + 10]);

        var path = await NewDownloader().DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);

        Assert.Equal(_content, await File.ReadAllBytesAsync(path));
        Assert.Equal([$"bytes={_content.Length + 10}-", "bytes=0-"], server.Ranges);
    }

    [Fact]
    public async Task Damaged_bytes_once_start_the_download_over_and_it_succeeds()
    {
        using var server = new DownloadTestServer(_content) { CorruptionsLeft = 1 };
        var downloader = NewDownloader();

        var path = await downloader.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);

        Assert.Equal(_content, await File.ReadAllBytesAsync(path));
        Assert.Equal(["bytes=0-", "bytes=0-"], server.Ranges);
        Assert.Equal(2L * _content.Length, downloader.BytesReceived);
    }

    [Fact]
    public async Task Damaged_bytes_twice_fail_clearly_and_leave_nothing_in_staging()
    {
        using var server = new DownloadTestServer(_content) { CorruptionsLeft = 2 };

        var error = await Assert.ThrowsAsync<DownloadFailedException>(() => NewDownloader().DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None));

        Assert.Contains(Sha, error.Message, StringComparison.Ordinal);
        Assert.Contains("again after starting over", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_dir.Path, Downloader.StagingFolder)));
        Assert.Equal(2, server.Ranges.Count);
    }

    [Fact]
    public async Task An_unknown_artifact_fails_at_once()
    {
        using var server = new DownloadTestServer(_content);
        var other = new string('0', 64);

        var error = await Assert.ThrowsAsync<DownloadFailedException>(() =>
            NewDownloader().DownloadAsync(() => new HttpRequestMessage(HttpMethod.Get, new Uri(server.ArtifactUri, "/missing")), _dir.Path, other, CancellationToken.None));

        Assert.Contains("no such artifact (404)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_full_disk_fails_the_download_after_the_configured_attempts_instead_of_fetching_forever()
    {
        // Every write into the part file fails with ENOSPC (the part file is /dev/full): bytes arrive on every attempt,
        // none is kept, and that is no progress.
        Assert.True(File.Exists("/dev/full"), "the test needs /dev/full");
        using var server = new DownloadTestServer(_content);
        Directory.CreateDirectory(Path.Combine(_dir.Path, Downloader.StagingFolder));
        File.CreateSymbolicLink(Downloader.PartPath(_dir.Path, Sha), "/dev/full");
        var downloader = NewDownloader(new UpdateOptions { RetryMinMs = 0, RetryMaxMs = 0, MaxAttemptsWithoutProgress = 3 });

        var error = await Assert.ThrowsAsync<DownloadFailedException>(() =>
            downloader.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2)));

        Assert.Equal(3, downloader.Requests);
        Assert.Contains("3 attempts in a row kept no bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("No space left on device", error.Message, StringComparison.Ordinal);
        Assert.True(downloader.BytesReceived > 0);
        Assert.Equal(0, downloader.BytesWritten);
    }

    [Fact]
    public async Task An_unreachable_server_fails_after_the_configured_attempts()
    {
        var port = Fleet.FakeFleetServer.FreePort();
        var options = new UpdateOptions { RetryMinMs = 0, RetryMaxMs = 0, MaxAttemptsWithoutProgress = 3 };
        var downloader = NewDownloader(options);

        var error = await Assert.ThrowsAsync<DownloadFailedException>(() =>
            downloader.DownloadAsync(() => new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/x"), _dir.Path, Sha, CancellationToken.None));

        Assert.Contains("3 attempts in a row kept no bytes", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, downloader.Requests);
    }

    [Fact]
    public async Task The_bandwidth_cap_holds_on_the_fake_clock()
    {
        var content = RandomNumberGenerator.GetBytes(512 * 1024);
        using var server = new DownloadTestServer(content);
        const long rate = 64 * 1024;
        const int burst = 16 * 1024;
        var progress = new RecordingProgress(_time);
        var options = new UpdateOptions { RetryMinMs = 0, RetryMaxMs = 0, MaxBytesPerSecond = rate, BurstBytes = burst, ProgressIntervalMs = 1000 };
        var downloader = NewDownloader(options, progress);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var start = _time.GetUtcNow();

        var downloading = downloader.DownloadAsync(server.NewRequest, _dir.Path, sha, CancellationToken.None);
        for (var i = 0; i < 10_000 && !downloading.IsCompleted; i++)
        {
            try
            {
                _time.Advance(await _time.NextTimerAsync(downloading));
            }
            catch (InvalidOperationException)
            {
                break;
            }
        }

        Assert.Equal(content, await File.ReadAllBytesAsync(await downloading));
        var elapsed = _time.GetUtcNow() - start;
        Assert.True(elapsed >= TimeSpan.FromSeconds((content.Length - burst) / (double)rate), $"done after {elapsed}");
        Assert.True(elapsed < TimeSpan.FromSeconds((content.Length / (double)rate) + 1), $"done after {elapsed}");
        Assert.All(progress.Reports, r => Assert.True(r.Progress.Bytes <= burst + (rate * r.Elapsed.TotalSeconds), $"{r.Progress.Bytes} bytes after {r.Elapsed}"));

        // About 8 s at the cap: a report a second at most (ProgressIntervalMs) instead of one per percent, and the last one
        // whenever it comes. (Reports arrive on the thread pool, so the time each was recorded at says little.)
        Assert.InRange(progress.Reports.Count, 6, 10);
        Assert.Equal("downloading 100%", progress.Reports[^1].Progress.State);
    }

    [Fact]
    public async Task On_a_fast_link_progress_and_flushes_wait_for_their_intervals_and_the_last_report_comes_anyway()
    {
        // The clock stands still: the whole download happens within both intervals.
        using var server = new DownloadTestServer(_content);
        var progress = new RecordingProgress(_time);
        var options = Quick();
        (options.FlushIntervalMs, options.ProgressIntervalMs) = (1000, 1000);
        var downloader = NewDownloader(options, progress);

        Assert.Equal(_content, await File.ReadAllBytesAsync(await downloader.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None)));

        Assert.Equal(["downloading 0%", "downloading 100%"], progress.Reports.Select(r => r.Progress.State));
        Assert.Equal(0, downloader.Flushes);
    }

    [Fact]
    public async Task While_a_flush_runs_the_writes_go_on_without_waiting_for_the_disk()
    {
        var content = RandomNumberGenerator.GetBytes(48 * 1024 * 1024);
        using var server = new DownloadTestServer(content);
        var options = Quick();
        options.FlushBytes = 16 * 1024 * 1024;
        var flushes = 0;
        var passed = false;

        // The first flush lasts until the writes went past the 24 MiB writeback range boundary (a range is 8 MiB): the
        // writes between 16 and 26 MiB happen during it. The writer has no hook of its own; the part file's length is
        // what its writes leave. The receive loop waits for this flush only at 32 MiB, after the chunks up to there are
        // queued for writing, so the length gets there (the 30 s bound is for a broken writer).
        void SlowFirstFlush(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
        {
            if (Interlocked.Increment(ref flushes) == 1)
            {
                passed = SpinWait.SpinUntil(() => RandomAccess.GetLength(handle) >= 26 * 1024 * 1024, TimeSpan.FromSeconds(30));
            }

            RandomAccess.FlushToDisk(handle);
        }

        var downloader = new Downloader(_http, options, _time, NullLogger<Downloader>.Instance, null, new Random(1), SlowFirstFlush);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));

        Assert.Equal(content, await File.ReadAllBytesAsync(await downloader.DownloadAsync(server.NewRequest, _dir.Path, sha, CancellationToken.None)));

        Assert.True(passed, "the writes did not get past 26 MiB while the first flush ran");
        Assert.InRange(downloader.Flushes, 2, 3);
        Assert.True(downloader.WritesHeldForFlush >= 1, "the writer held back no writeback while the flush ran");
    }

    [Fact]
    public async Task A_progress_report_that_takes_long_does_not_hold_up_the_bytes_and_still_comes_before_the_end()
    {
        using var server = new DownloadTestServer(_content);
        using var release = new ManualResetEventSlim();
        var progress = new BlockingProgress(release);
        var downloader = NewDownloader(progress: progress);

        var downloading = downloader.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);
        // The first report blocks (a stored event waiting for a busy disk): every byte arrives anyway.
        for (var i = 0; i < 3000 && downloader.BytesReceived < _content.Length; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(_content.Length, downloader.BytesReceived);
        Assert.False(downloading.IsCompleted, "the download ended before its progress was reported");
        release.Set();
        Assert.Equal(_content, await File.ReadAllBytesAsync(await downloading));
        Assert.Equal("downloading 100%", progress.States[^1]);
    }

    [Fact]
    public async Task Without_intervals_every_percent_is_reported_and_the_part_file_flushed_every_flush_bytes()
    {
        using var server = new DownloadTestServer(_content);
        var progress = new RecordingProgress(_time);
        var downloader = NewDownloader(progress: progress);

        await downloader.DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);

        // 64 KiB fills (the next percent is closer) and FlushBytes = 64 KiB: a flush after every chunk but the last.
        Assert.InRange(downloader.Flushes, (_content.Length / (64 * 1024)) - 1, (_content.Length / (64 * 1024)) + 1);
        Assert.Equal(progress.Reports.Count, progress.Reports.Select(r => r.Progress.Percent).Distinct().Count());
        Assert.True(progress.Reports.Count >= 30, string.Join(", ", progress.Reports.Select(r => r.Progress.State)));
    }

    [Fact]
    public async Task Outside_the_maintenance_window_the_download_waits_for_it()
    {
        using var server = new DownloadTestServer(_content);
        var progress = new RecordingProgress(_time);
        var options = new UpdateOptions { RetryMinMs = 0, RetryMaxMs = 0, MaintenanceWindow = "02:00-05:00Z" };

        var downloading = NewDownloader(options, progress).DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None);
        var wait = await _time.NextTimerAsync(downloading);

        Assert.Equal(TimeSpan.FromHours(1), wait);
        Assert.Equal([TimeSpan.FromHours(1)], progress.Waits);
        Assert.Empty(server.Ranges);
        _time.Advance(TimeSpan.FromMinutes(59));
        Assert.False(downloading.IsCompleted);
        Assert.Empty(server.Ranges);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(_content, await File.ReadAllBytesAsync(await downloading));
        Assert.Equal(["bytes=0-"], server.Ranges);
    }

    [Fact]
    public async Task A_finished_bundle_is_returned_without_a_request()
    {
        using var server = new DownloadTestServer(_content);
        Directory.CreateDirectory(Path.Combine(_dir.Path, Downloader.StagingFolder));
        await File.WriteAllBytesAsync(Downloader.BundlePath(_dir.Path, Sha), _content);

        Assert.Equal(Downloader.BundlePath(_dir.Path, Sha), await NewDownloader().DownloadAsync(server.NewRequest, _dir.Path, Sha, CancellationToken.None));
        Assert.Empty(server.Ranges);
    }

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    private sealed class BlockingProgress(ManualResetEventSlim release) : IDownloadProgress
    {
        public List<string> States { get; } = [];

        public void Report(DownloadProgress progress)
        {
            release.Wait(TimeSpan.FromSeconds(60));
            States.Add(progress.State);
        }

        public void Waiting(string sha256, TimeSpan wait)
        {
        }
    }

    private sealed class CancelAt(CancellationTokenSource cancel, int percent) : IDownloadProgress
    {
        public void Report(DownloadProgress progress)
        {
            if (progress.Percent >= percent)
            {
                cancel.Cancel();
            }
        }

        public void Waiting(string sha256, TimeSpan wait)
        {
        }
    }
}
