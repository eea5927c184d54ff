namespace EdgeLlm.Sensors.Alerts;

/// <summary>Which rule an alert is about.</summary>
public enum AlertKind
{
    /// <summary>At or above the high limit.</summary>
    High,

    /// <summary>At or below the low limit.</summary>
    Low,

    /// <summary>Changing faster than the rate limit.</summary>
    RateOfChange,
}

/// <summary>Whether the condition began or ended.</summary>
public enum AlertState
{
    /// <summary>The condition began: one alert per crossing.</summary>
    Raised,

    /// <summary>Back to normal (past the hysteresis band).</summary>
    Cleared,
}

/// <summary>An alert for the <c>alerts</c> topic.</summary>
/// <param name="SensorId">The sensor's id.</param>
/// <param name="SensorName">The sensor's human name.</param>
/// <param name="Kind">Which rule.</param>
/// <param name="State">Raised or cleared.</param>
/// <param name="Limit">The limit the rule compares with (units, or units per minute for rate rules).</param>
/// <param name="Value">The value (or, for rate rules, the rate per minute) that changed the state.</param>
/// <param name="Unit">The sensor's unit.</param>
/// <param name="Timestamp">Time of the reading that changed the state.</param>
/// <param name="Message">One sentence for people, with units.</param>
public sealed record SensorAlert(
    string SensorId,
    string SensorName,
    AlertKind Kind,
    AlertState State,
    double Value,
    double Limit,
    string Unit,
    DateTimeOffset Timestamp,
    string Message);

/// <summary>Where alerts go; the agent publishes them to MQTT <c>alerts</c>.</summary>
public interface IAlertPublisher
{
    /// <summary>Publishes one alert. Called from one loop, in order.</summary>
    ValueTask PublishAsync(SensorAlert alert, CancellationToken cancellationToken);
}
