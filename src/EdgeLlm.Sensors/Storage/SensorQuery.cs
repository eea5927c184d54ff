using EdgeLlm.Sensors.Catalog;

namespace EdgeLlm.Sensors.Storage;

/// <summary>The newest stored reading of a sensor.</summary>
public sealed record LatestReading(double Value, DateTimeOffset Timestamp);

/// <summary>A crossing of one of the sensor's limits inside the window.</summary>
/// <param name="Threshold">The limit crossed.</param>
/// <param name="Timestamp">Time of the first reading on the other side.</param>
/// <param name="Value">That reading's value.</param>
/// <param name="Direction"><c>up</c> or <c>down</c>.</param>
public sealed record LimitCrossing(double Threshold, DateTimeOffset Timestamp, double Value, string Direction);

/// <summary>
/// The answer to a structured sensor question ("what did X do in the last hour?") without a model: the same shape for
/// <c>edgellm sensors query --json</c> and the agent's MQTT reply.
/// </summary>
/// <param name="Id">Sensor id.</param>
/// <param name="Name">Human name.</param>
/// <param name="Unit">Unit of every value.</param>
/// <param name="Window">The window as people write it (<c>1h</c>).</param>
/// <param name="From">Window start (inclusive).</param>
/// <param name="To">Window end (inclusive, to the millisecond).</param>
/// <param name="Count">Readings in the window.</param>
/// <param name="Min">Smallest value, null without readings.</param>
/// <param name="Max">Largest value, null without readings.</param>
/// <param name="Avg">Mean value, null without readings.</param>
/// <param name="TrendPerHour">Least-squares trend in units per hour, null with fewer than two readings.</param>
/// <param name="Latest">Newest stored reading (may be older than the window), or null.</param>
/// <param name="Crossings">Crossings of the sensor's high and low limits in the window, oldest first.</param>
public sealed record SensorQueryResult(
    string Id,
    string Name,
    string Unit,
    string Window,
    DateTimeOffset From,
    DateTimeOffset To,
    long Count,
    double? Min,
    double? Max,
    double? Avg,
    double? TrendPerHour,
    LatestReading? Latest,
    IReadOnlyList<LimitCrossing> Crossings)
{
    /// <summary>Queries <paramref name="store"/> for <paramref name="sensor"/> over the <paramref name="window"/> ending at <paramref name="now"/>.</summary>
    public static SensorQueryResult Run(SensorStore store, SensorDefinition sensor, TimeSpan window, DateTimeOffset now)
    {
        var from = now - window;
        var to = SensorSummary.Inclusive(now);
        var stats = store.Window(sensor.Id, from, to);
        var latest = store.Latest(sensor.Id);
        var limits = sensor.Thresholds is { } t ? new[] { t.High, t.Low }.OfType<double>() : [];
        var crossings = limits
            .SelectMany(l => store.Crossings(sensor.Id, from, to, l).Select(c => new LimitCrossing(l, c.Timestamp, c.Value, c.Upward ? "up" : "down")))
            .OrderBy(c => c.Timestamp)
            .ToArray();
        return new SensorQueryResult(
            sensor.Id, sensor.Name, sensor.Unit, SensorSummary.Span(window), from, now, stats.Count, stats.Min, stats.Max, stats.Avg, stats.SlopePerHour,
            latest is { } l ? new LatestReading(l.Value, l.Timestamp) : null,
            crossings);
    }
}
