namespace EdgeLlm.Sensors.Ingestion;

/// <summary>The validating <see cref="ISensorReadingSink"/>: every accepted reading goes to <c>accept</c>.</summary>
internal sealed class ReadingGate : ISensorReadingSink
{
    private readonly IReadOnlyDictionary<string, SensorDefinition> _sensors;
    private readonly TimeProvider _time;
    private readonly TimeSpan _maxFuture;
    private readonly TimeSpan _maxAge;
    private readonly Func<SensorReading, bool> _accept;

    /// <param name="sensors">Known sensors by id.</param>
    /// <param name="options">Skew and age limits.</param>
    /// <param name="time">The device clock.</param>
    /// <param name="rejections">Where refusals are counted.</param>
    /// <param name="accept">Takes an accepted reading; returns false when the store's queue is full.</param>
    public ReadingGate(IReadOnlyDictionary<string, SensorDefinition> sensors, SensorOptions options, TimeProvider time, RejectionCounters rejections, Func<SensorReading, bool> accept)
    {
        _sensors = sensors;
        _time = time;
        _maxFuture = options.MaxFutureSkew;
        _maxAge = options.MaxAge;
        Rejections = rejections;
        _accept = accept;
    }

    public RejectionCounters Rejections { get; }

    public bool Submit(string sensorId, DateTimeOffset timestamp, double value, string? unit = null)
    {
        if (!_sensors.TryGetValue(sensorId, out var sensor))
        {
            return Refuse(sensorId, RejectReason.UnknownSensor, "no sensor has this id; declare it under Sensors:Mqtt or Sensors:Gpio");
        }

        if (!double.IsFinite(value))
        {
            return Refuse(sensorId, RejectReason.NotFinite, $"value {value}");
        }

        if (unit is not null && !Units.Same(unit, sensor.Unit))
        {
            return Refuse(sensorId, RejectReason.UnitMismatch, $"reading in '{unit}', sensor stores '{sensor.Unit}'");
        }

        var now = _time.GetUtcNow();
        if (timestamp > now + _maxFuture)
        {
            return Refuse(sensorId, RejectReason.FutureTimestamp, $"timestamp {timestamp:O} is ahead of the device clock {now:O}");
        }

        if (timestamp < now - _maxAge)
        {
            return Refuse(sensorId, RejectReason.StaleTimestamp, $"timestamp {timestamp:O} is older than {_maxAge} (Sensors:MaxAge)");
        }

        return _accept(new SensorReading(sensorId, timestamp, value)) || Refuse(sensorId, RejectReason.QueueFull, "the store writer is behind; reading dropped");
    }

    public void Reject(string sensorId, RejectReason reason, string detail) => Rejections.Add(sensorId, reason, detail);

    private bool Refuse(string sensorId, RejectReason reason, string detail)
    {
        Rejections.Add(sensorId, reason, detail);
        return false;
    }
}

/// <summary>Unit names compared the way people write them: "°C", "degC" and "C" are the same unit.</summary>
internal static class Units
{
    public static bool Same(string a, string b) => string.Equals(Normalize(a), Normalize(b), StringComparison.Ordinal);

    private static string Normalize(string unit)
    {
        var u = unit.Replace("°", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant();
        return u switch
        {
            "degc" or "celsius" or "degreescelsius" => "c",
            "degf" or "fahrenheit" => "f",
            "rpm" or "r/min" => "rpm",
            "percent" => "%",
            _ => u,
        };
    }
}
