namespace EdgeLlm.Sensors.Storage;

/// <summary>Aggregate of one sensor over a time window [From, To).</summary>
/// <param name="SensorId">The sensor's id.</param>
/// <param name="From">Window start (inclusive).</param>
/// <param name="To">Window end (exclusive).</param>
/// <param name="Count">Readings in the window.</param>
/// <param name="Min">Smallest value, null when there are none.</param>
/// <param name="Max">Largest value, null when there are none.</param>
/// <param name="Avg">Mean value, null when there are none.</param>
/// <param name="SlopePerSecond">Least-squares trend in units per second; null with fewer than two readings at distinct times.</param>
public sealed record WindowStats(string SensorId, DateTimeOffset From, DateTimeOffset To, long Count, double? Min, double? Max, double? Avg, double? SlopePerSecond)
{
    /// <summary>The trend in units per hour.</summary>
    public double? SlopePerHour => SlopePerSecond * 3600;
}

/// <summary>A moment the value crossed a threshold: the first reading on the other side.</summary>
public readonly record struct ThresholdCrossing(DateTimeOffset Timestamp, double Value, bool Upward);

/// <summary>Rows removed by one retention pass.</summary>
public readonly record struct RetentionResult(long RawRows, long MinuteRows);

/// <summary>
/// Running sums for a window: count, sum, min, max and the least-squares sums over time in seconds from the window
/// start. Per-minute rows keep the same sums relative to their minute, so a window over minute rows plus the raw
/// readings at its ragged edges gives exactly the figures a scan of every raw reading would.
/// </summary>
internal struct WindowAccumulator
{
    private readonly long _originMs;
    private long _n;
    private double _sum, _min, _max, _st, _stt, _stv;

    public readonly long N => _n;

    public readonly double Sum => _sum;

    public readonly double Min => _min;

    public readonly double Max => _max;

    /// <summary>Σt, Σt² and Σt·v with t in seconds from the origin.</summary>
    public readonly (double St, double Stt, double Stv) TimeSums => (_st, _stt, _stv);

    public WindowAccumulator(long originMs)
    {
        _originMs = originMs;
        (_min, _max) = (double.PositiveInfinity, double.NegativeInfinity);
    }

    public void AddReading(long tsMs, double value)
    {
        var t = (tsMs - _originMs) / 1000.0;
        _n++;
        _sum += value;
        _min = Math.Min(_min, value);
        _max = Math.Max(_max, value);
        _st += t;
        _stt += t * t;
        _stv += t * value;
    }

    /// <summary>Adds a minute row whose st/stt/stv are relative to the minute's start.</summary>
    public void AddMinute(long minute, long n, double sum, double min, double max, double st, double stt, double stv)
    {
        var m = ((minute * 60_000) - _originMs) / 1000.0;
        _n += n;
        _sum += sum;
        _min = Math.Min(_min, min);
        _max = Math.Max(_max, max);
        _st += (m * n) + st;
        _stt += (m * m * n) + (2 * m * st) + stt;
        _stv += (m * sum) + stv;
    }

    public readonly WindowStats ToStats(string sensorId, DateTimeOffset from, DateTimeOffset to)
    {
        if (_n == 0)
        {
            return new WindowStats(sensorId, from, to, 0, null, null, null, null);
        }

        var sxx = _stt - (_st * _st / _n);
        var sxy = _stv - (_st * _sum / _n);

        // Readings all at one instant (or rounding noise near it) have no trend.
        var slope = _n >= 2 && sxx > 1e-9 * Math.Max(1, _stt) ? sxy / sxx : (double?)null;
        return new WindowStats(sensorId, from, to, _n, _min, _max, _sum / _n, slope);
    }
}
