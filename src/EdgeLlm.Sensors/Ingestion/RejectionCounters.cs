using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Sensors.Ingestion;

/// <summary>Counts refused readings per sensor and reason and logs them without flooding the log.</summary>
public sealed class RejectionCounters
{
    private readonly ConcurrentDictionary<(string Sensor, RejectReason Reason), StrongBox<long>> _counts = new();
    private readonly ILogger _logger;

    internal RejectionCounters(ILogger logger) => _logger = logger;

    /// <summary>Total rejections so far.</summary>
    public long Total => _counts.Values.Sum(c => Volatile.Read(ref c.Value));

    /// <summary>Rejections of one reason (over all sensors).</summary>
    public long Count(RejectReason reason) => _counts.Where(kv => kv.Key.Reason == reason).Sum(kv => Volatile.Read(ref kv.Value.Value));

    /// <summary>Rejections of one sensor and reason.</summary>
    public long Count(string sensor, RejectReason reason) => _counts.TryGetValue((sensor, reason), out var c) ? Volatile.Read(ref c.Value) : 0;

    /// <summary>A snapshot: (sensor, reason, count), most frequent first.</summary>
    public IReadOnlyList<(string Sensor, RejectReason Reason, long Count)> Snapshot() =>
        [.. _counts.Select(kv => (kv.Key.Sensor, kv.Key.Reason, Volatile.Read(ref kv.Value.Value))).OrderByDescending(t => t.Item3)];

    /// <summary>Past this many (sensor, reason) pairs, unknown ids are counted under "*" so a publisher of random ids cannot grow the table.</summary>
    internal const int MaxKeys = 10_000;

    internal void Add(string sensor, RejectReason reason, string detail)
    {
        if (_counts.Count >= MaxKeys && !_counts.ContainsKey((sensor, reason)))
        {
            (sensor, detail) = ("*", $"{sensor}: {detail}");
        }

        var box = _counts.GetOrAdd((sensor, reason), _ => new StrongBox<long>());
        var n = Interlocked.Increment(ref box.Value);

        // A broken source rejects every sample: warn on the 1st, 10th, 100th... and keep the rest at debug.
        if (IsPowerOfTen(n))
        {
            SensorsLog.Rejected(_logger, sensor, reason, n, detail);
        }
        else
        {
            SensorsLog.RejectedAgain(_logger, sensor, reason, n, detail);
        }
    }

    private static bool IsPowerOfTen(long n)
    {
        while (n >= 10 && n % 10 == 0)
        {
            n /= 10;
        }

        return n == 1;
    }
}
