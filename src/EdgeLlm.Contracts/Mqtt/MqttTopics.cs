namespace EdgeLlm.Contracts.Mqtt;

/// <summary>Topic names of the device's MQTT interface, all under <c>edgellm/v1/{deviceId}</c>.</summary>
public static class MqttTopics
{
    /// <summary>Version prefix of every topic.</summary>
    public const string Prefix = "edgellm/v1";

    /// <summary>The root of one device's topics: <c>edgellm/v1/{deviceId}</c>.</summary>
    public static string Root(string deviceId) => $"{Prefix}/{deviceId}";

    /// <summary>Questions in (<see cref="AskRequest"/>).</summary>
    public static string Ask(string deviceId) => $"{Root(deviceId)}/ask";

    /// <summary>Cancellations in (<see cref="CancelRequest"/>).</summary>
    public static string Cancel(string deviceId) => $"{Root(deviceId)}/cancel";

    /// <summary>The retained status out (<see cref="StatusMessage"/>), with the last will <c>offline</c>.</summary>
    public static string Status(string deviceId) => $"{Root(deviceId)}/status";

    /// <summary>Lifecycle and update events out.</summary>
    public static string Events(string deviceId) => $"{Root(deviceId)}/events";

    /// <summary>Readings in for one sensor (a number, or <see cref="SensorReadingMessage"/>): <c>sensors/{sensorId}</c>.</summary>
    public static string Sensor(string deviceId, string sensorId) => $"{Root(deviceId)}/sensors/{sensorId}";

    /// <summary>The filter of every <see cref="Sensor"/> topic: <c>sensors/+</c>.</summary>
    public static string AllSensors(string deviceId) => $"{Root(deviceId)}/sensors/+";

    /// <summary>Structured sensor questions in (<see cref="SensorQueryRequest"/>), answered without a model.</summary>
    public static string SensorQuery(string deviceId) => $"{Root(deviceId)}/sensor-query";

    /// <summary>Sensor alerts out (<see cref="AlertMessage"/>).</summary>
    public static string Alerts(string deviceId) => $"{Root(deviceId)}/alerts";

    /// <summary>A reply topic for a client that has none of its own (the CLI uses it).</summary>
    public static string Reply(string deviceId, string clientId) => $"{Root(deviceId)}/reply/{clientId}";

    /// <summary>
    /// True when a device id can be a single topic level: no wildcards, no separators, no control characters,
    /// 1 to 64 characters.
    /// </summary>
    public static bool IsValidDeviceId(string? deviceId) =>
        !string.IsNullOrEmpty(deviceId) && deviceId.Length <= 64
        && deviceId.All(c => c is not ('/' or '+' or '#') && !char.IsControl(c) && !char.IsWhiteSpace(c));
}
