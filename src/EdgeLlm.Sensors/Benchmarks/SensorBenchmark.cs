using System.Diagnostics;
using System.Text;
using EdgeLlm.Sensors.Storage;

namespace EdgeLlm.Sensors.Benchmarks;

/// <summary>Figures of <c>edgellm sensors bench</c>.</summary>
/// <param name="IngestReadings">Readings offered through the MQTT mapping path.</param>
/// <param name="IngestRejected">Readings refused on that path (queue full included).</param>
/// <param name="IngestPerSecond">Readings per second from the first message to the last reading committed (the publisher is throttled to the writer's pace).</param>
/// <param name="SeedRows">Raw rows in the aggregate benchmark's store.</param>
/// <param name="SeedPerSecond">Bulk append rate while seeding (batches of <see cref="SensorStoreOptions.BatchSize"/>).</param>
/// <param name="WindowMedianMs">Median time of a one-hour window aggregate.</param>
/// <param name="WindowMaxMs">Slowest one-hour window aggregate.</param>
/// <param name="WindowRawScanMs">The same window by scanning raw readings only, for comparison.</param>
/// <param name="WindowMatchesRawScan">The rollup answer equals the raw scan (count, min, max; avg and trend to 1e-9 relative).</param>
public sealed record SensorBenchmarkResult(
    long IngestReadings,
    long IngestRejected,
    double IngestPerSecond,
    long SeedRows,
    double SeedPerSecond,
    double WindowMedianMs,
    double WindowMaxMs,
    double WindowRawScanMs,
    bool WindowMatchesRawScan)
{
    /// <summary>The issue's targets and whether they were met.</summary>
    public IReadOnlyDictionary<string, bool> Targets => new Dictionary<string, bool>
    {
        ["ingest >= 50000 readings/s"] = IngestPerSecond >= 50_000 && IngestRejected == 0,
        ["1h window over 10M rows <= 20 ms"] = SeedRows >= 10_000_000 && WindowMedianMs <= 20 && WindowMatchesRawScan,
    };
}

/// <summary>
/// The sensors benchmark: sustained ingestion through the MQTT mapping path into the store, and a one-hour window
/// aggregate over a store holding <c>rows</c> raw readings.
/// </summary>
public static class SensorBenchmark
{
    private const int Sensors = 100;
    private const int SeedSensors = 10;

    /// <param name="directory">Scratch folder for the two databases (deleted files are the caller's business).</param>
    /// <param name="readings">Readings to ingest (default in the CLI: 1,000,000).</param>
    /// <param name="rows">Raw rows to seed for the window benchmark (default in the CLI: 10,000,000).</param>
    /// <param name="progress">Progress lines, or null.</param>
    /// <param name="cancellationToken">Stops the benchmark.</param>
    public static async Task<SensorBenchmarkResult> RunAsync(string directory, int readings, long rows, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var (ingested, rejected, perSecond) = await IngestAsync(Path.Combine(directory, "ingest.db"), readings, cancellationToken).ConfigureAwait(false);
        progress?.Report($"ingest: {ingested:N0} readings at {perSecond:N0}/s ({rejected} rejected)");
        var (seedRate, median, max, rawScan, matches) = Window(Path.Combine(directory, "window.db"), rows, progress, cancellationToken);
        return new SensorBenchmarkResult(ingested, rejected, perSecond, rows, seedRate, median, max, rawScan, matches);
    }

    private static async Task<(long, long, double)> IngestAsync(string db, int readings, CancellationToken ct)
    {
        DeleteDatabase(db);
        var options = new SensorOptions { Discover = false };
        for (var i = 0; i < Sensors; i++)
        {
            options.Mqtt.Add(new MqttSensorSettings { Id = $"line{i}_pressure", Topic = $"plant/line{i}/pressure", JsonPath = "$.data.value", Unit = "bar", Scale = 0.001 });
        }

        var hub = new SensorHub(options, db, TimeProvider.System);
        await using (hub.ConfigureAwait(false))
        {
            await hub.StartAsync(ct).ConfigureAwait(false);
            var topics = Enumerable.Range(0, Sensors).Select(i => $"plant/line{i}/pressure").ToArray();
            var payloads = Enumerable.Range(0, 1000).Select(i => Encoding.UTF8.GetBytes($"{{\"device\":\"gw-3\",\"data\":{{\"value\":{1000 + (i * 7 % 500)},\"quality\":\"good\"}}}}")).ToArray();

            // Readings an hour old, one millisecond apart per sensor, so none collide and all pass the age check.
            var start = TimeProvider.System.GetUtcNow() - TimeSpan.FromHours(1);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < readings; i++)
            {
                hub.Mqtt.Ingest(topics[i % Sensors], payloads[i % payloads.Length], start.AddMilliseconds(i / Sensors));
                if ((i & 0x3FF) == 0)
                {
                    ct.ThrowIfCancellationRequested();

                    // A publisher faster than the disk is throttled (the agent answers busy) rather than dropped.
                    while (hub.Backlog > options.Store.QueueCapacity / 2)
                    {
                        await Task.Delay(1, ct).ConfigureAwait(false);
                    }
                }
            }

            await hub.StopAsync(ct).ConfigureAwait(false);
            clock.Stop();
            return (hub.Written, hub.Rejections.Total, hub.Written / clock.Elapsed.TotalSeconds);
        }
    }

    private static (double SeedRate, double Median, double Max, double RawScan, bool Matches) Window(string db, long rows, IProgress<string>? progress, CancellationToken ct)
    {
        DeleteDatabase(db);
        var options = new SensorStoreOptions { BatchSize = 100_000 };
        using var store = SensorStore.Open(db, options);

        // Ten sensors at 10 Hz: 10M rows are 27.8 hours of each.
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var batch = new SensorReading[options.BatchSize];
        var ids = Enumerable.Range(0, SeedSensors).Select(i => $"spindle{i}_temp").ToArray();
        var clock = Stopwatch.StartNew();
        for (long written = 0; written < rows;)
        {
            ct.ThrowIfCancellationRequested();
            var n = (int)Math.Min(batch.Length, rows - written);
            for (var j = 0; j < n; j++)
            {
                var k = written + j;
                var t = k / SeedSensors;
                batch[j] = new SensorReading(ids[k % SeedSensors], start.AddMilliseconds(t * 100), 60 + (10 * Math.Sin(t / 3000.0)) + (k % 7 * 0.1));
            }

            store.Append(batch.AsSpan(0, n));
            written += n;
            if (written % 1_000_000 == 0)
            {
                progress?.Report($"seed: {written:N0} rows");
            }
        }

        var seedRate = rows / clock.Elapsed.TotalSeconds;
        var span = TimeSpan.FromMilliseconds(rows / SeedSensors * 100);

        // A window with ragged edges (not on minute boundaries), in the middle of the data.
        var from = start + (span / 2) + TimeSpan.FromSeconds(17.3);
        var to = from + TimeSpan.FromHours(1);
        var times = new List<double>();
        WindowStats? stats = null;
        for (var i = 0; i < 51; i++)
        {
            var sensor = ids[i % SeedSensors];
            var w = Stopwatch.StartNew();
            var s = store.Window(sensor, from, to);
            w.Stop();
            if (i > 0)
            {
                times.Add(w.Elapsed.TotalMilliseconds);
            }

            if (i % SeedSensors == 0)
            {
                stats = s;
            }
        }

        times.Sort();
        var raw = Stopwatch.StartNew();
        var scanned = RawScan(store, ids[0], from, to);
        raw.Stop();
        var matches = stats is not null && stats.Count == scanned.Count && stats.Min == scanned.Min && stats.Max == scanned.Max
            && Close(stats.Avg, scanned.Avg) && Close(stats.SlopePerSecond, scanned.SlopePerSecond);
        return (seedRate, times[times.Count / 2], times[^1], raw.Elapsed.TotalMilliseconds, matches);
    }

    /// <summary>The window computed the slow way, from raw readings only (one accumulator over every row).</summary>
    internal static WindowStats RawScan(SensorStore store, string sensorId, DateTimeOffset from, DateTimeOffset to)
    {
        var acc = new WindowAccumulator(from.ToUnixTimeMilliseconds());
        foreach (var (ts, value) in store.Raw(sensorId, from, to))
        {
            acc.AddReading(ts, value);
        }

        return acc.ToStats(sensorId, from, to);
    }

    private static bool Close(double? a, double? b) =>
        a is null ? b is null : b is not null && Math.Abs(a.Value - b.Value) <= 1e-9 * Math.Max(1, Math.Max(Math.Abs(a.Value), Math.Abs(b.Value)));

    private static void DeleteDatabase(string db)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(db + suffix);
        }
    }
}
