using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors.Benchmarks;
using EdgeLlm.Sensors.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Sensors.Tests;

public sealed class StoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = TestPaths.NewTempDir();

    private SensorStore Open(SensorStoreOptions? options = null) => SensorStore.Open(Path.Combine(_dir.Path, "agent.db"), options);

    public void Dispose() => _dir.Dispose();

    /// <summary>Irregular readings (0.3 to 7 s apart) over three hours for two sensors.</summary>
    private static List<SensorReading> Irregular(int seed)
    {
        var rng = new Random(seed);
        var list = new List<SensorReading>();
        foreach (var id in new[] { "a", "b" })
        {
            for (var t = T0; t < T0.AddHours(3); t = t.AddMilliseconds(300 + rng.Next(6700)))
            {
                list.Add(new SensorReading(id, t, Math.Round(50 + (20 * rng.NextDouble()) + ((t - T0).TotalMinutes * 0.05), 3)));
            }
        }

        return list;
    }

    private static void AppendInBatches(SensorStore store, List<SensorReading> readings, int batch)
    {
        for (var i = 0; i < readings.Count; i += batch)
        {
            store.Append(readings.GetRange(i, Math.Min(batch, readings.Count - i)).ToArray());
        }
    }

    [Fact]
    public void Window_MinutesPlusRawEdges_EqualsAScanOfEveryReading()
    {
        using var store = Open();
        var readings = Irregular(7);
        AppendInBatches(store, readings, 997);
        var rng = new Random(3);
        for (var i = 0; i < 25; i++)
        {
            var from = T0.AddMilliseconds(rng.Next(0, 10_000_000));
            var to = from.AddMilliseconds(rng.Next(1, 4_000_000));
            var expected = readings.Where(r => r.SensorId == "a" && r.Timestamp >= from && r.Timestamp < to).ToList();
            var stats = store.Window("a", from, to);
            Assert.Equal(expected.Count, stats.Count);
            if (expected.Count == 0)
            {
                continue;
            }

            Assert.Equal(expected.Min(r => r.Value), stats.Min);
            Assert.Equal(expected.Max(r => r.Value), stats.Max);
            Assert.Equal(expected.Average(r => r.Value), stats.Avg!.Value, 9);
            var scan = SensorBenchmark.RawScan(store, "a", from, to);
            if (scan.SlopePerSecond is { } slope)
            {
                Assert.Equal(slope, stats.SlopePerSecond!.Value, 9);
            }
        }
    }

    [Fact]
    public void Window_LinearSeries_TrendIsItsSlope()
    {
        using var store = Open();
        store.Append([.. Enumerable.Range(0, 600).Select(i => new SensorReading("a", T0.AddSeconds(i * 10), 20 + (i * 10 * 0.002)))]);
        var stats = store.Window("a", T0.AddMinutes(7).AddSeconds(13), T0.AddMinutes(83).AddSeconds(41));
        Assert.Equal(0.002, stats.SlopePerSecond!.Value, 12);
        Assert.Equal(7.2, stats.SlopePerHour!.Value, 9);
    }

    [Fact]
    public void Append_WritesOneMinuteRowPerSensorMinute_WithMinMaxSumCount()
    {
        using var store = Open();
        store.Append([new("a", T0.AddSeconds(5), 3), new("a", T0.AddSeconds(50), 9), new("a", T0.AddSeconds(61), 4), new("b", T0.AddSeconds(1), 100)]);
        store.Append([new("a", T0.AddSeconds(30), 1)]);
        using var c = new SqliteConnection($"Data Source={store.Path}");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT i.id, m.minute, m.n, m.sum, m.vmin, m.vmax FROM sensor_minutes m JOIN sensor_ids i ON i.key = m.sensor ORDER BY i.id, m.minute";
        using var reader = cmd.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add($"{reader.GetString(0)} {reader.GetInt64(1) - (T0.ToUnixTimeMilliseconds() / 60_000)} n={reader.GetInt64(2)} sum={reader.GetDouble(3)} min={reader.GetDouble(4)} max={reader.GetDouble(5)}");
        }

        Assert.Equal(["a 0 n=3 sum=13 min=1 max=9", "a 1 n=1 sum=4 min=4 max=4", "b 0 n=1 sum=100 min=100 max=100"], rows);
    }

    [Fact]
    public void Append_SameSensorAndMillisecond_KeepsTheFirstAndCountsItOnce()
    {
        using var store = Open();
        Assert.Equal(1, store.Append([new("a", T0, 1), new("a", T0, 2)]));
        Assert.Equal(0, store.Append([new("a", T0, 3)]));
        var stats = store.Window("a", T0.AddMinutes(-5), T0.AddMinutes(5));
        Assert.Equal((1L, 1.0), (stats.Count, stats.Avg!.Value));
    }

    [Fact]
    public void ApplyRetention_DropsOldRawRows_KeepsMinuteRowsLonger()
    {
        var options = new SensorStoreOptions { RawRetention = TimeSpan.FromDays(2), MinuteRetention = TimeSpan.FromDays(30) };
        using var store = Open(options);
        var days = new[] { 0, 1, 3, 40 };
        foreach (var d in days)
        {
            store.Append([.. Enumerable.Range(0, 120).Select(s => new SensorReading("a", T0.AddDays(-d).AddSeconds(s), d))]);
        }

        var removed = store.ApplyRetention(T0.AddHours(1));
        Assert.Equal(new RetentionResult(240, 2), removed);

        // Three days back: raw rows are gone, whole minutes still answer from the minute rows.
        var old = store.Window("a", T0.AddDays(-3), T0.AddDays(-3).AddMinutes(2));
        Assert.Equal((120L, 3.0), (old.Count, old.Avg!.Value));
        Assert.Equal(0, store.Window("a", T0.AddDays(-3).AddSeconds(30), T0.AddDays(-3).AddSeconds(50)).Count);
        Assert.Equal(0, store.Window("a", T0.AddDays(-41), T0.AddDays(-39)).Count);
        Assert.Equal(120, store.Window("a", T0.AddDays(-1), T0.AddDays(-1).AddMinutes(2)).Count);
        Assert.Equal(new RetentionResult(0, 0), store.ApplyRetention(T0.AddHours(1)));
    }

    [Fact]
    public void Latest_ReturnsTheNewestReading_OrNull()
    {
        using var store = Open();
        Assert.Null(store.Latest("a"));
        store.Append([new("a", T0.AddSeconds(9), 2), new("a", T0.AddSeconds(3), 1), new("b", T0.AddSeconds(20), 7)]);
        Assert.Equal(new SensorReading("a", T0.AddSeconds(9), 2), store.Latest("a"));
    }

    [Fact]
    public void Crossings_ListEachCrossingWithDirection_IncludingFromTheReadingBeforeTheWindow()
    {
        using var store = Open();
        double[] values = [85, 70, 79, 81, 82, 75, 80];
        store.Append([.. values.Select((v, i) => new SensorReading("a", T0.AddMinutes(i), v))]);
        var crossings = store.Crossings("a", T0.AddMinutes(1), T0.AddMinutes(10), 80);
        Assert.Equal([(1, false), (3, true), (5, false), (6, true)], crossings.Select(c => ((int)(c.Timestamp - T0).TotalMinutes, c.Upward)));
        Assert.Empty(store.Crossings("nobody", T0, T0.AddHours(1), 80));
    }

    [Fact]
    public void Window_UnknownSensorOrEmptyWindow_HasNoReadings()
    {
        using var store = Open();
        store.Append([new("a", T0, 1)]);
        Assert.Equal(0, store.Window("zzz", T0.AddHours(-1), T0.AddHours(1)).Count);
        var empty = store.Window("a", T0.AddHours(1), T0.AddHours(2));
        Assert.Equal((0L, null, null), (empty.Count, empty.Avg, empty.SlopePerSecond));
    }

    [Fact]
    public void Open_UnwritableLocation_NamesThePath()
    {
        var file = Path.Combine(_dir.Path, "not-a-dir");
        File.WriteAllText(file, "x");
        var ex = Assert.ThrowsAny<Exception>(() => SensorStore.Open(Path.Combine(file, "agent.db")));
        Assert.Contains("not-a-dir", ex.Message, StringComparison.Ordinal);
    }
}
