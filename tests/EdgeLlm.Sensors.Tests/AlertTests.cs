using EdgeLlm.Sensors.Alerts;

namespace EdgeLlm.Sensors.Tests;

public sealed class AlertTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);

    private static AlertEngine Engine(SensorThresholds thresholds) =>
        new(new Dictionary<string, SensorDefinition> { ["spindle_temp"] = new("spindle_temp", "Spindle temperature", [], "°C", TimeSpan.FromSeconds(1), SensorSourceKind.Hwmon, thresholds) });

    private static List<SensorAlert> Feed(AlertEngine engine, params double[] values) =>
        [.. values.SelectMany((v, i) => engine.Observe(new SensorReading("spindle_temp", T0.AddSeconds(i), v)))];

    [Fact]
    public void HighLimit_ValueHoveringAtTheLimit_RaisesOnceAndClearsOncePastTheHysteresis()
    {
        var alerts = Feed(Engine(new SensorThresholds(High: 80, Low: null, Hysteresis: 2)), 70, 80, 81, 79.5, 80.5, 78.1, 79.9, 77.9, 78.5, 80);
        Assert.Equal(
            [(AlertKind.High, AlertState.Raised, 80.0), (AlertKind.High, AlertState.Cleared, 77.9), (AlertKind.High, AlertState.Raised, 80.0)],
            alerts.Select(a => (a.Kind, a.State, a.Value)));
        Assert.Equal("Spindle temperature is 80 °C, at or above the high limit 80 °C.", alerts[0].Message);
        Assert.Equal("Spindle temperature is back to normal: 77.9 °C (high limit 80 °C).", alerts[1].Message);
        Assert.Equal(T0.AddSeconds(7), alerts[1].Timestamp);
    }

    [Fact]
    public void LowLimit_RaisesAtOrBelow_ClearsAboveLimitPlusHysteresis()
    {
        var alerts = Feed(Engine(new SensorThresholds(High: null, Low: 10, Hysteresis: 1)), 12, 10, 9, 10.5, 11, 11.01);
        Assert.Equal([(AlertState.Raised, 10.0), (AlertState.Cleared, 11.01)], alerts.Select(a => (a.State, a.Value)));
        Assert.All(alerts, a => Assert.Equal(AlertKind.Low, a.Kind));
    }

    [Fact]
    public void RateOfChange_FastRiseRaises_SlowingBelowEightyPercentClears()
    {
        // One reading per second: a step of 0.1 °C is 6 °C/min.
        var alerts = Feed(Engine(new SensorThresholds(null, null, 0, RatePerMinute: 5)), 20, 20.05, 20.15, 20.25, 20.32, 20.385, 20.45);
        Assert.Equal([(AlertState.Raised, 6.0), (AlertState.Cleared, 3.9)], alerts.Select(a => (a.State, Math.Round(a.Value, 6))));
        Assert.Contains("6 °C/min, faster than the limit 5 °C/min", alerts[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OutOfOrderReading_DoesNotDriveTheRateRule()
    {
        var engine = Engine(new SensorThresholds(null, null, 0, RatePerMinute: 5));
        Assert.Empty(engine.Observe(new SensorReading("spindle_temp", T0.AddSeconds(10), 20)));
        Assert.Empty(engine.Observe(new SensorReading("spindle_temp", T0, 90)));
        Assert.Empty(engine.Observe(new SensorReading("spindle_temp", T0.AddSeconds(70), 20.5)));
    }

    [Fact]
    public void SensorWithoutThresholds_NeverAlerts() =>
        Assert.Empty(Feed(new AlertEngine(new Dictionary<string, SensorDefinition>()), 1e9, -1e9));
}
