namespace EdgeLlm.Sensors;

/// <summary>Where a sensor's readings come from.</summary>
public enum SensorSourceKind
{
    /// <summary>A Linux Industrial I/O channel under <c>/sys/bus/iio/devices</c>.</summary>
    Iio,

    /// <summary>A hardware-monitoring input under <c>/sys/class/hwmon</c>.</summary>
    Hwmon,

    /// <summary>A thermal zone under <c>/sys/class/thermal</c>.</summary>
    Thermal,

    /// <summary>A GPIO input line (level or edge count).</summary>
    Gpio,

    /// <summary>Readings published over MQTT by other devices.</summary>
    Mqtt,
}

/// <summary>Optional alert limits of a sensor, in the sensor's unit.</summary>
/// <param name="High">Alert when the value rises to or above this; null = no upper limit.</param>
/// <param name="Low">Alert when the value falls to or below this; null = no lower limit.</param>
/// <param name="Hysteresis">How far back inside a limit the value must return before the alert clears (default 0).</param>
/// <param name="RatePerMinute">Alert when the value changes faster than this many units per minute; null = no rate rule.</param>
public sealed record SensorThresholds(double? High, double? Low, double Hysteresis = 0, double? RatePerMinute = null)
{
    /// <summary>True when at least one rule is set.</summary>
    public bool Any => High is not null || Low is not null || RatePerMinute is not null;
}

/// <summary>One sensor the device knows: discovered from sysfs or declared in config.</summary>
/// <param name="Id">Stable identifier: lower case letters, digits and underscores (for example <c>thermal_cpu_thermal</c>).</param>
/// <param name="Name">Human name used in answers.</param>
/// <param name="Aliases">Other names operators use ("spindle temp", "motor 2").</param>
/// <param name="Unit">Unit of every stored value (for example <c>°C</c>, <c>V</c>, <c>RPM</c>); empty when dimensionless.</param>
/// <param name="Period">How often the device samples it (polled sources) or expects it (MQTT).</param>
/// <param name="Source">Where readings come from.</param>
/// <param name="Thresholds">Alert rules, or null for none.</param>
public sealed record SensorDefinition(
    string Id,
    string Name,
    IReadOnlyList<string> Aliases,
    string Unit,
    TimeSpan Period,
    SensorSourceKind Source,
    SensorThresholds? Thresholds = null);

/// <summary>One accepted value of one sensor.</summary>
/// <param name="SensorId">The sensor's <see cref="SensorDefinition.Id"/>.</param>
/// <param name="Timestamp">When the value was measured.</param>
/// <param name="Value">The value in the sensor's unit.</param>
public readonly record struct SensorReading(string SensorId, DateTimeOffset Timestamp, double Value);

/// <summary>Why a reading was refused. Every rejection is counted and logged; the source keeps running.</summary>
public enum RejectReason
{
    /// <summary>The reading names a sensor nobody declared or discovered.</summary>
    UnknownSensor,

    /// <summary>The sensor's sysfs file is gone (device unplugged, driver unloaded).</summary>
    SourceMissing,

    /// <summary>Reading the source failed (I/O error from the driver, GPIO line unavailable).</summary>
    ReadFailed,

    /// <summary>The content is not a number (garbage in a sysfs file, a non-numeric MQTT payload).</summary>
    NotNumeric,

    /// <summary>NaN or infinity.</summary>
    NotFinite,

    /// <summary>The timestamp lies further in the future than the allowed clock skew.</summary>
    FutureTimestamp,

    /// <summary>The timestamp is older than the oldest reading the device accepts.</summary>
    StaleTimestamp,

    /// <summary>The reading carries a unit different from the sensor's.</summary>
    UnitMismatch,

    /// <summary>The store's queue is full: the writer cannot keep up.</summary>
    QueueFull,
}
