using System.Collections.Concurrent;
using System.Globalization;

namespace EdgeLlm.Sensors.Alerts;

/// <summary>
/// Threshold and rate-of-change rules with hysteresis. Each rule is a two-state machine (normal / alerting) that
/// speaks only when its state changes, so a value hovering at a limit gives one alert and one "back to normal",
/// not a storm. High clears below <c>High − Hysteresis</c>, Low above <c>Low + Hysteresis</c>; a rate alert clears
/// when the rate falls below 80 % of its limit (rates are noisy sample to sample).
/// </summary>
public sealed class AlertEngine
{
    /// <summary>A rate alert clears below this share of its limit.</summary>
    public const double RateClearShare = 0.8;

    private readonly IReadOnlyDictionary<string, SensorDefinition> _sensors;
    private readonly ConcurrentDictionary<string, RuleState> _states = new(StringComparer.Ordinal);

    public AlertEngine(IReadOnlyDictionary<string, SensorDefinition> sensors) => _sensors = sensors;

    /// <summary>Feeds one accepted reading; returns the alerts it raises or clears (usually none).</summary>
    public IReadOnlyList<SensorAlert> Observe(SensorReading reading)
    {
        if (!_sensors.TryGetValue(reading.SensorId, out var sensor) || sensor.Thresholds is not { Any: true } limits)
        {
            return [];
        }

        var state = _states.GetOrAdd(reading.SensorId, _ => new RuleState());
        List<SensorAlert>? alerts = null;
        void Emit(AlertKind kind, AlertState s, double value, double limit, string message) =>
            (alerts ??= []).Add(new SensorAlert(sensor.Id, sensor.Name, kind, s, value, limit, sensor.Unit, reading.Timestamp, message));

        var v = reading.Value;
        lock (state)
        {
            if (limits.High is { } high)
            {
                if (!state.High && v >= high)
                {
                    state.High = true;
                    Emit(AlertKind.High, AlertState.Raised, v, high, $"{sensor.Name} is {Fmt(v, sensor.Unit)}, at or above the high limit {Fmt(high, sensor.Unit)}.");
                }
                else if (state.High && v < high - limits.Hysteresis)
                {
                    state.High = false;
                    Emit(AlertKind.High, AlertState.Cleared, v, high, $"{sensor.Name} is back to normal: {Fmt(v, sensor.Unit)} (high limit {Fmt(high, sensor.Unit)}).");
                }
            }

            if (limits.Low is { } low)
            {
                if (!state.Low && v <= low)
                {
                    state.Low = true;
                    Emit(AlertKind.Low, AlertState.Raised, v, low, $"{sensor.Name} is {Fmt(v, sensor.Unit)}, at or below the low limit {Fmt(low, sensor.Unit)}.");
                }
                else if (state.Low && v > low + limits.Hysteresis)
                {
                    state.Low = false;
                    Emit(AlertKind.Low, AlertState.Cleared, v, low, $"{sensor.Name} is back to normal: {Fmt(v, sensor.Unit)} (low limit {Fmt(low, sensor.Unit)}).");
                }
            }

            // Rates need an earlier reading; out-of-order readings are stored but do not move the rule.
            if (limits.RatePerMinute is { } rateLimit && state.LastTs is { } lastTs && reading.Timestamp > lastTs)
            {
                var rate = Math.Abs(v - state.LastValue) / (reading.Timestamp - lastTs).TotalMinutes;
                var perMinute = sensor.Unit.Length == 0 ? "/min" : $" {sensor.Unit}/min";
                if (!state.Rate && rate > rateLimit)
                {
                    state.Rate = true;
                    Emit(AlertKind.RateOfChange, AlertState.Raised, rate, rateLimit, $"{sensor.Name} is changing at {Fmt(rate)}{perMinute}, faster than the limit {Fmt(rateLimit)}{perMinute} (now {Fmt(v, sensor.Unit)}).");
                }
                else if (state.Rate && rate < rateLimit * RateClearShare)
                {
                    state.Rate = false;
                    Emit(AlertKind.RateOfChange, AlertState.Cleared, rate, rateLimit, $"{sensor.Name} is changing normally again: {Fmt(rate)}{perMinute} (now {Fmt(v, sensor.Unit)}).");
                }
            }

            if (state.LastTs is null || reading.Timestamp > state.LastTs)
            {
                (state.LastTs, state.LastValue) = (reading.Timestamp, v);
            }
        }

        return alerts ?? (IReadOnlyList<SensorAlert>)[];
    }

    internal static string Fmt(double v, string unit = "") =>
        v.ToString("0.###", CultureInfo.InvariantCulture) + (unit.Length == 0 ? "" : " " + unit);

    private sealed class RuleState
    {
        public bool High, Low, Rate;
        public DateTimeOffset? LastTs;
        public double LastValue;
    }
}
