using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Mqtt;

/// <summary>A reading on <c>sensors/{sensorId}</c> (a plain number is accepted too).</summary>
public sealed record SensorReadingMessage
{
    public required double Value { get; init; }

    /// <summary>When it was measured: ISO 8601, or Unix seconds (milliseconds above 10^11). Default: when it arrived.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Ts { get; init; }

    /// <summary>The unit of <see cref="Value"/>; a reading in another unit than the sensor's is rejected. Default: the sensor's.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Unit { get; init; }
}

/// <summary>
/// A structured sensor question on <c>sensor-query</c>, answered from the store without a model: the reply (to the
/// MQTT 5 response topic, else <see cref="ReplyTo"/>) is <c>{type: sensor_data, id, correlation_id?, data}</c> with
/// <c>data</c> the JSON of <c>edgellm sensors query --json</c>, or an <see cref="ErrorMessage"/>.
/// </summary>
public sealed record SensorQueryRequest
{
    /// <summary>The request's id, echoed in the reply. Default: one the agent makes.</summary>
    public string? Id { get; init; }

    /// <summary>The sensor: id, name or alias (case and small typos tolerated).</summary>
    public string? Sensor { get; init; }

    /// <summary>How far back: 90s, 15m, 1h, 2d. Default 1h.</summary>
    public string? Window { get; init; }

    /// <summary>Where to reply when the message has no MQTT 5 response topic.</summary>
    public string? ReplyTo { get; init; }

    /// <summary>Echoed in the reply, for clients without MQTT 5 correlation data.</summary>
    public string? CorrelationId { get; init; }
}

/// <summary>A threshold or rate-of-change alert on <c>alerts</c>: one when a limit is crossed, one when back to normal.</summary>
public sealed record AlertMessage
{
    public required string SensorId { get; init; }

    public required string SensorName { get; init; }

    /// <summary><c>high</c>, <c>low</c> or <c>rate_of_change</c>.</summary>
    public required string Kind { get; init; }

    /// <summary><c>raised</c> or <c>cleared</c>.</summary>
    public required string State { get; init; }

    /// <summary>The value (for rate alerts: the rate per minute) that changed the state.</summary>
    public required double Value { get; init; }

    /// <summary>The limit of the rule (for rate alerts: units per minute).</summary>
    public required double Limit { get; init; }

    public required string Unit { get; init; }

    /// <summary>Time of the reading that changed the state (ISO 8601).</summary>
    public required string Ts { get; init; }

    /// <summary>One sentence for people, with units.</summary>
    public required string Message { get; init; }
}
