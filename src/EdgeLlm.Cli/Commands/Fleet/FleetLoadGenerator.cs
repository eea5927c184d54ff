using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>What `edgellm fleet loadgen` runs.</summary>
internal sealed record LoadgenOptions
{
    /// <summary>Device counts of the consecutive stages (one stage for <c>--devices N</c>).</summary>
    public required IReadOnlyList<int> Stages { get; init; }

    /// <summary>A device's real period between polls and batches (60 s).</summary>
    public double PeriodSeconds { get; init; } = 60;

    /// <summary>Time compression: each device acts every <see cref="PeriodSeconds"/> / <see cref="TimeScale"/> seconds.</summary>
    public double TimeScale { get; init; } = 1;

    /// <summary>Measured seconds per stage.</summary>
    public double DurationSeconds { get; init; } = 30;

    /// <summary>Unmeasured seconds at the start of each stage (JIT, connection set-up, first 200s of desired state).</summary>
    public double WarmupSeconds { get; init; } = 5;

    public int BatchItems { get; init; } = 20;

    /// <summary>Enrollments in flight at once.</summary>
    public int Concurrency { get; init; } = 32;

    /// <summary>The shared HttpClient's connection limit.</summary>
    public int Connections { get; init; } = 512;

    /// <summary>A stage is the knee when its p99 passes this, or it has errors, or it falls behind its schedule.</summary>
    public double P99LimitMs { get; init; } = 200;

    /// <summary>Processes whose CPU use (with their descendants) is reported per stage, by name.</summary>
    public IReadOnlyDictionary<string, int> Watch { get; init; } = new Dictionary<string, int>();

    public TimeSpan Interval => TimeSpan.FromSeconds(PeriodSeconds / TimeScale);
}

/// <summary>
/// Simulates devices against a real fleet server: enrolls them with one limited-use token, then each polls its desired
/// state (If-None-Match) and posts one telemetry batch per interval, starting at a random offset within the interval so
/// the load is even. One HttpClient (SocketsHttpHandler) is shared by all. Bounded: every stage ends after its
/// duration, and every request after the client's timeout.
/// </summary>
internal sealed class FleetLoadGenerator(LoadgenOptions options, TimeProvider time)
{
    private static readonly JsonElement ModelEvent = JsonSerializer.SerializeToElement(
        new Dictionary<string, string> { ["model"] = "qwen2.5-0.5b-int4", ["version"] = "1.0.0", ["provider"] = "cpu" },
        LoadgenJsonContext.Default.DictionaryStringString);

    private static readonly string[] MetricNames =
    [
        "tokens_per_s", "ttft_ms_p50", "ttft_ms_p95", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "queue_depth",
        "requests", "errors", "cpu_percent", "cpu_temp_c", "soc_temp_c", "memory_used_bytes", "disk_free_bytes", "outbox_bytes",
    ];

    private readonly string _run = Guid.NewGuid().ToString("n")[..8];

    public async Task<LoadgenResult> RunAsync(FleetAdminClient admin, CancellationToken cancellationToken)
    {
        var total = options.Stages.Max();
        var token = await admin.CreateTokenAsync(new CreateTokenRequest { Uses = total, ExpiresInSeconds = 86_400, Tags = ["loadgen"] }, cancellationToken)
            .ConfigureAwait(false);
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = options.Connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        using var http = new HttpClient(handler, disposeHandler: false) { BaseAddress = admin.Server, Timeout = TimeSpan.FromSeconds(30) };
        var devices = new List<SimulatedDevice>(total);
        var stages = new List<StageResult>();
        var sampler = new CpuSampler(options.Watch);
        foreach (var count in options.Stages)
        {
            var enroll = await EnrollAsync(http, token.Token!, devices, count, cancellationToken).ConfigureAwait(false);
            stages.Add(await RunStageAsync(http, devices.Take(count).ToArray(), count, enroll, sampler, cancellationToken).ConfigureAwait(false));
        }

        var knee = stages.FirstOrDefault(s => s.Problem is not null);
        return new LoadgenResult(admin.Server.ToString(), options.PeriodSeconds, options.TimeScale, options.Interval.TotalSeconds, options.BatchItems,
            options.DurationSeconds, options.WarmupSeconds, options.Connections, options.P99LimitMs, stages,
            knee is null ? null : new KneeResult(knee.Devices, knee.RealTimeEquivalentDevices, knee.Problem!));
    }

    private async Task<RequestSummary> EnrollAsync(HttpClient http, string token, List<SimulatedDevice> devices, int target, CancellationToken cancellationToken)
    {
        var stats = new RequestStats();
        var clock = Stopwatch.StartNew();
        var enrolled = new ConcurrentBag<SimulatedDevice>();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(devices.Count, Math.Max(0, target - devices.Count)), parallel, async (i, ct) =>
        {
            var id = $"lg-{_run}-{i:D6}";
            var request = new EnrollRequest
            {
                Token = token,
                DeviceId = id,
                Hardware = new HardwareInfo { Arch = "arm64", CpuCount = 4, MemoryBytes = 4L << 30, DiskBytes = 32L << 30, Os = "Debian 12", AgentVersion = "loadgen" },
            };
            using var message = new HttpRequestMessage(HttpMethod.Post, Relative(FleetRoutes.Enroll))
            {
                Content = FleetAdminClient.Json(request, FleetJsonContext.Default.EnrollRequest),
            };
            using var response = await stats.SendAsync(http, message, record: true, ct).ConfigureAwait(false);
            if (response?.StatusCode == HttpStatusCode.Created)
            {
                var body = await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.EnrollResponse, ct).ConfigureAwait(false);
                enrolled.Add(new SimulatedDevice(id, body!.Credential, i));
            }
        }).ConfigureAwait(false);
        devices.AddRange(enrolled.OrderBy(d => d.Index));
        if (devices.Count < target)
        {
            throw new FleetApiException("enroll_failed", $"only {devices.Count} of {target} simulated devices could enroll: {stats.FirstError ?? "no answer"}");
        }

        return stats.Summary(clock.Elapsed);
    }

    private async Task<StageResult> RunStageAsync(HttpClient http, SimulatedDevice[] devices, int count, RequestSummary enroll, CpuSampler sampler, CancellationToken cancellationToken)
    {
        var interval = options.Interval;
        var warmup = TimeSpan.FromSeconds(options.WarmupSeconds);
        var end = warmup + TimeSpan.FromSeconds(options.DurationSeconds);
        var desired = new RequestStats();
        var telemetry = new RequestStats();
        long late = 0;
        long ticks = 0;
        long skipped = 0;
        var start = Stopwatch.GetTimestamp();
        var sampling = SampleAfterWarmupAsync();

        async Task<CpuSample> SampleAfterWarmupAsync()
        {
            await Task.Delay(warmup, time, cancellationToken).ConfigureAwait(false);
            return sampler.Take();
        }

        async Task DeviceAsync(SimulatedDevice device)
        {
            var offset = interval * Random.Shared.NextDouble();
            // The ticks due before the stage's end: offset, offset + interval, …
            var maxTicks = (long)Math.Ceiling((end - offset) / interval);
            for (long k = 0; k < maxTicks; k++)
            {
                var due = offset + interval * k;

                var now = Stopwatch.GetElapsedTime(start);
                if (now >= end)
                {
                    // Behind schedule past the stage's end: what is left is counted, not sent, so a stage ends on time.
                    Interlocked.Add(ref skipped, maxTicks - k);
                    break;
                }

                var wait = due - now;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
                }

                var record = due >= warmup;
                if (record && -wait > interval)
                {
                    Interlocked.Increment(ref late);
                }

                if (record)
                {
                    Interlocked.Increment(ref ticks);
                }

                await PollAsync(http, device, desired, record, cancellationToken).ConfigureAwait(false);
                await PostAsync(http, device, telemetry, record, cancellationToken).ConfigureAwait(false);
            }
        }

        await Task.WhenAll(devices.Select(DeviceAsync)).ConfigureAwait(false);
        var before = await sampling.ConfigureAwait(false);
        var after = sampler.Take();
        var measured = Stopwatch.GetElapsedTime(start) - warmup;
        var cpu = CpuSampler.Between(before, after);
        var targetRate = count / interval.TotalSeconds;
        var poll = desired.Summary(measured);
        var batch = telemetry.Summary(measured);
        return new StageResult(count, (long)Math.Round(count * options.TimeScale), Math.Round(measured.TotalSeconds, 1), Math.Round(targetRate, 1), enroll,
            poll, batch, ticks, late, skipped, cpu, Problem(poll, batch, targetRate, ticks, late, skipped));
    }

    private string? Problem(RequestSummary poll, RequestSummary batch, double targetRate, long ticks, long late, long skipped)
    {
        if (skipped > 0)
        {
            return $"{skipped} ticks could not start before the stage ended (the load generator or server fell behind)";
        }

        foreach (var (name, s) in new[] { ("desired", poll), ("telemetry", batch) })
        {
            if (s.Errors > 0)
            {
                return $"{s.Errors} {name} error(s): {s.FirstError}";
            }

            if (s.P99Ms > options.P99LimitMs)
            {
                return $"{name} p99 {s.P99Ms} ms > {options.P99LimitMs} ms";
            }

            if (s.RatePerS < targetRate * 0.95)
            {
                return $"{name} rate {s.RatePerS}/s < 95 % of the target {targetRate:F1}/s";
            }
        }

        return late > ticks / 100 ? $"{late} of {ticks} ticks started more than one interval late (the load generator or server fell behind)" : null;
    }

    private static async Task PollAsync(HttpClient http, SimulatedDevice device, RequestStats stats, bool record, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, Relative(FleetRoutes.Desired));
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", device.Credential);
        if (device.ETag is { } etag)
        {
            message.Headers.TryAddWithoutValidation("If-None-Match", etag);
        }

        using var response = await stats.SendAsync(http, message, record, cancellationToken).ConfigureAwait(false);
        if (response?.StatusCode == HttpStatusCode.OK)
        {
            device.ETag = response.Headers.ETag?.Tag;
        }
    }

    private async Task PostAsync(HttpClient http, SimulatedDevice device, RequestStats stats, bool record, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, Relative(FleetRoutes.Telemetry))
        {
            Content = FleetAdminClient.Json(Batch(device), FleetJsonContext.Default.TelemetryBatch),
        };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", device.Credential);
        using var response = await stats.SendAsync(http, message, record, cancellationToken).ConfigureAwait(false);
        if (response?.IsSuccessStatusCode == true)
        {
            // A failed batch is sent again with the same seqs next time, as the device's outbox would.
            device.NextSeq += options.BatchItems;
        }
    }

    /// <summary>A batch as an agent sends it: one period's metrics, now and then an event.</summary>
    private TelemetryBatch Batch(SimulatedDevice device)
    {
        var now = time.GetUtcNow();
        var items = new TelemetryItem[options.BatchItems];
        for (var i = 0; i < items.Length; i++)
        {
            var seq = device.NextSeq + i;
            var ts = now - TimeSpan.FromSeconds(options.PeriodSeconds * (items.Length - i) / items.Length);
            items[i] = i == items.Length - 1 && seq % 5 == 0
                ? new TelemetryItem { Seq = seq, Ts = ts, Kind = TelemetryKinds.Event, Name = "model_loaded", Data = ModelEvent }
                : new TelemetryItem { Seq = seq, Ts = ts, Kind = TelemetryKinds.Metric, Name = MetricNames[i % MetricNames.Length], Value = Math.Round(Random.Shared.NextDouble() * 100, 2) };
        }

        return new TelemetryBatch { Items = items };
    }

    private static Uri Relative(string route) => new(route.TrimStart('/'), UriKind.Relative);

    private sealed class SimulatedDevice(string id, string credential, int index)
    {
        public string Id { get; } = id;

        public string Credential { get; } = credential;

        public int Index { get; } = index;

        public string? ETag { get; set; }

        public long NextSeq { get; set; } = 1;
    }
}

/// <summary>Counts and latencies of one request type.</summary>
internal sealed class RequestStats
{
    private readonly LatencyHistogram _latency = new();
    private readonly ConcurrentDictionary<string, long> _errors = new();
    private long _ok;
    private long _notModified;
    private string? _firstError;

    public string? FirstError => _firstError;

    /// <summary>Sends and counts one request; null when it failed without a response (the failure is counted).</summary>
    public async Task<HttpResponseMessage?> SendAsync(HttpClient http, HttpRequestMessage message, bool record, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var response = await http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            if (!record)
            {
                return response;
            }

            _latency.Record(Stopwatch.GetElapsedTime(start));
            if (response.StatusCode == HttpStatusCode.NotModified)
            {
                Interlocked.Increment(ref _notModified);
            }
            else if (response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _ok);
            }
            else
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                Fail(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture), $"{(int)response.StatusCode} {body}");
            }

            return response;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or SocketException || ex is TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            if (record)
            {
                _latency.Record(Stopwatch.GetElapsedTime(start));
                Fail(ex is TaskCanceledException ? "timeout" : "exception", ex.Message);
            }

            return null;
        }
    }

    public RequestSummary Summary(TimeSpan elapsed)
    {
        static double Ms(long micros) => Math.Round(micros / 1000.0, 2);
        var count = _latency.Count;
        return new RequestSummary(
            count,
            Interlocked.Read(ref _ok),
            Interlocked.Read(ref _notModified),
            _errors.Values.Sum(),
            new SortedDictionary<string, long>(_errors),
            _firstError,
            elapsed.TotalSeconds <= 0 ? 0 : Math.Round(count / elapsed.TotalSeconds, 1),
            Ms(_latency.PercentileMicros(0.50)),
            Ms(_latency.PercentileMicros(0.95)),
            Ms(_latency.PercentileMicros(0.99)),
            Ms(_latency.MaxMicros),
            Math.Round(_latency.MeanMicros / 1000.0, 2));
    }

    private void Fail(string kind, string message)
    {
        _errors.AddOrUpdate(kind, 1, (_, n) => n + 1);
        Interlocked.CompareExchange(ref _firstError, message.Length > 300 ? message[..300] : message, null);
    }
}

internal sealed record RequestSummary(
    long Count,
    long Ok,
    long NotModified,
    long Errors,
    IReadOnlyDictionary<string, long> ErrorsByKind,
    string? FirstError,
    double RatePerS,
    double P50Ms,
    double P95Ms,
    double P99Ms,
    double MaxMs,
    double MeanMs);

internal sealed record StageResult(
    int Devices,
    long RealTimeEquivalentDevices,
    double MeasuredSeconds,
    double TargetRatePerS,
    RequestSummary Enroll,
    RequestSummary Desired,
    RequestSummary Telemetry,
    long Ticks,
    long LateTicks,
    long SkippedTicks,
    CpuFigures Cpu,
    string? Problem);

internal sealed record KneeResult(int Devices, long RealTimeEquivalentDevices, string Reason);

internal sealed record LoadgenResult(
    string Server,
    double PeriodS,
    double TimeScale,
    double IntervalS,
    int BatchItems,
    double StageSeconds,
    double WarmupSeconds,
    int Connections,
    double P99LimitMs,
    IReadOnlyList<StageResult> Stages,
    KneeResult? Knee);

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class LoadgenJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
