using EdgeLlm.Sensors.Mqtt;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Sensors;

/// <summary>The <c>Sensors</c> configuration section.</summary>
public sealed class SensorOptions
{
    /// <summary>Root of the sysfs tree to discover sensors under (default <c>/</c>; tests point it at a generated tree).</summary>
    public string SysfsRoot { get; set; } = "/";

    /// <summary>Discover IIO, hwmon and thermal sensors under <see cref="SysfsRoot"/> (default true).</summary>
    public bool Discover { get; set; } = true;

    /// <summary>Sampling period of sensors that do not set their own (default 5 s).</summary>
    public TimeSpan DefaultPeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How far ahead of the device clock a reading's timestamp may be (default 5 min).</summary>
    public TimeSpan MaxFutureSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The oldest reading accepted, relative to the device clock (default 1 day).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Names, aliases, periods and thresholds for sensors by id (discovered ones included).</summary>
    public IList<SensorSettings> Sensors { get; } = [];

    /// <summary>Sensors fed by MQTT topics other devices publish.</summary>
    public IList<MqttSensorSettings> Mqtt { get; } = [];

    /// <summary>GPIO input lines.</summary>
    public IList<GpioSensorSettings> Gpio { get; } = [];

    /// <summary>The time-series store.</summary>
    public SensorStoreOptions Store { get; set; } = new();

    private static readonly JsonSerializerOptions FileJson = new()
    {
        PropertyNameCaseInsensitive = true,
        PreferredObjectCreationHandling = JsonObjectCreationHandling.Populate,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// Reads the <c>Sensors</c> section of a JSON configuration file; a missing file or section gives the defaults.
    /// Errors name the file and the field.
    /// </summary>
    public static SensorOptions Load(string? path)
    {
        var options = new SensorOptions();
        if (path is null || !File.Exists(path))
        {
            return path is null ? options : throw new SensorConfigException($"Configuration file '{path}' does not exist: pass an existing file to --config.");
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (string.Equals(property.Name, "Sensors", StringComparison.OrdinalIgnoreCase))
                {
                    options = property.Value.Deserialize<SensorOptions>(FileJson) ?? options;
                }
            }
        }
        catch (JsonException ex)
        {
            throw new SensorConfigException($"Configuration file '{path}': {ex.Path ?? "(root)"} is invalid ({ex.Message}). Fix the Sensors section.", ex);
        }

        options.Validate(path);
        return options;
    }

    /// <summary>Checks every setting; the message names the field (prefixed by <paramref name="source"/>) and the fix.</summary>
    public void Validate(string source = "configuration")
    {
        void Fail(string field, string problem) => throw new SensorConfigException($"{source}: Sensors:{field} {problem}");
        if (string.IsNullOrWhiteSpace(SysfsRoot))
        {
            Fail("SysfsRoot", "is empty: set a directory (default /).");
        }

        if (DefaultPeriod <= TimeSpan.Zero)
        {
            Fail("DefaultPeriod", "must be positive (for example \"00:00:05\").");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Mqtt.Count; i++)
        {
            var m = Mqtt[i];
            CheckId($"Mqtt:{i}:Id", m.Id);
            if (string.IsNullOrWhiteSpace(m.Topic) || !TopicFilter.IsValid(m.Topic))
            {
                Fail($"Mqtt:{i}:Topic", $"'{m.Topic}' is not a valid MQTT topic filter (+ and # must fill a whole level; # only last).");
            }

            if (m.Scale is 0 || !double.IsFinite(m.Scale))
            {
                Fail($"Mqtt:{i}:Scale", "must be a finite, non-zero number (default 1).");
            }
        }

        for (var i = 0; i < Gpio.Count; i++)
        {
            CheckId($"Gpio:{i}:Id", Gpio[i].Id);
            if (Gpio[i].Pin < 0)
            {
                Fail($"Gpio:{i}:Pin", "must be a GPIO line number (0 or more).");
            }
        }

        for (var i = 0; i < Sensors.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Sensors[i].Id))
            {
                Fail($"Sensors:{i}:Id", "is required: the id of the sensor the settings are for.");
            }

            if (Sensors[i].Period is { } p && p <= TimeSpan.Zero)
            {
                Fail($"Sensors:{i}:Period", "must be positive.");
            }

            if (Sensors[i] is { High: { } high, Low: { } low } && low >= high)
            {
                Fail($"Sensors:{i}", $"has Low {low} not below High {high}.");
            }

            if (Sensors[i].Hysteresis < 0)
            {
                Fail($"Sensors:{i}:Hysteresis", "must not be negative.");
            }
        }

        Store.Validate(source);

        void CheckId(string field, string id)
        {
            if (SensorIds.Sanitize(id) != id)
            {
                Fail(field, $"'{id}' is not a sensor id: use lower case letters, digits and underscores (for example '{SensorIds.Sanitize(id)}').");
            }

            if (!ids.Add(id))
            {
                Fail(field, $"'{id}' is declared twice.");
            }
        }
    }
}

/// <summary>Settings for one sensor by id: how people call it, how often to sample it and when to alert.</summary>
public sealed class SensorSettings
{
    /// <summary>The sensor's id (discovered or declared).</summary>
    public string Id { get; set; } = "";

    /// <summary>Human name; default: derived from the source.</summary>
    public string? Name { get; set; }

    /// <summary>Other names operators use.</summary>
    public IList<string> Aliases { get; } = [];

    /// <summary>Sampling period; default <see cref="SensorOptions.DefaultPeriod"/>.</summary>
    public TimeSpan? Period { get; set; }

    /// <summary>Upper alert limit.</summary>
    public double? High { get; set; }

    /// <summary>Lower alert limit.</summary>
    public double? Low { get; set; }

    /// <summary>Distance back inside a limit before an alert clears (default 0).</summary>
    public double Hysteresis { get; set; }

    /// <summary>Rate-of-change alert limit in units per minute.</summary>
    public double? RatePerMinute { get; set; }
}

/// <summary>An MQTT topic mapped onto a sensor.</summary>
public sealed class MqttSensorSettings
{
    /// <summary>Sensor id (lower case letters, digits, underscores).</summary>
    public string Id { get; set; } = "";

    /// <summary>Human name; default: the id.</summary>
    public string? Name { get; set; }

    /// <summary>Other names operators use.</summary>
    public IList<string> Aliases { get; } = [];

    /// <summary>Topic filter with MQTT wildcards (<c>+</c> one level, <c>#</c> the rest).</summary>
    public string Topic { get; set; } = "";

    /// <summary>
    /// Where the number sits in a JSON payload (<c>$.data.value</c>, <c>readings[0].v</c>); null = the payload is a
    /// plain number or an object <c>{value, ts?, unit?}</c>.
    /// </summary>
    public string? JsonPath { get; set; }

    /// <summary>Where the timestamp sits in a JSON payload (ISO 8601 or Unix seconds); null = <c>ts</c> when present, else the receive time.</summary>
    public string? TimestampPath { get; set; }

    /// <summary>Unit of the stored value after scaling (default: none).</summary>
    public string Unit { get; set; } = "";

    /// <summary>Unit the publisher uses; a payload <c>unit</c> field must match it. Default: <see cref="Unit"/>.</summary>
    public string? PayloadUnit { get; set; }

    /// <summary>Multiplier applied to the published number (default 1).</summary>
    public double Scale { get; set; } = 1;

    /// <summary>Added after scaling (default 0).</summary>
    public double Offset { get; set; }
}

/// <summary>How a GPIO line is turned into readings.</summary>
public enum GpioInputMode
{
    /// <summary>The line's level, 1 or 0, sampled every period.</summary>
    Level,

    /// <summary>The number of edges counted since start, reported every period.</summary>
    EdgeCount,
}

/// <summary>Pull resistor of a GPIO input.</summary>
public enum GpioPull
{
    /// <summary>No pull resistor.</summary>
    None,

    /// <summary>Pull up.</summary>
    Up,

    /// <summary>Pull down.</summary>
    Down,
}

/// <summary>A GPIO input line.</summary>
public sealed class GpioSensorSettings
{
    /// <summary>Sensor id.</summary>
    public string Id { get; set; } = "";

    /// <summary>Human name; default: the id.</summary>
    public string? Name { get; set; }

    /// <summary>Other names operators use.</summary>
    public IList<string> Aliases { get; } = [];

    /// <summary>GPIO line number (logical numbering of System.Device.Gpio).</summary>
    public int Pin { get; set; }

    /// <summary>Level or edge count (default level).</summary>
    public GpioInputMode Mode { get; set; } = GpioInputMode.Level;

    /// <summary>Pull resistor (default none).</summary>
    public GpioPull Pull { get; set; } = GpioPull.None;

    /// <summary>Count rising edges (default true).</summary>
    public bool Rising { get; set; } = true;

    /// <summary>Count falling edges (default false).</summary>
    public bool Falling { get; set; }
}

/// <summary>The time-series store's settings (<c>Sensors:Store</c>).</summary>
public sealed class SensorStoreOptions
{
    /// <summary>How long raw readings are kept (default 2 days).</summary>
    public TimeSpan RawRetention { get; set; } = TimeSpan.FromDays(2);

    /// <summary>How long per-minute min/max/avg/count rows are kept (default 90 days).</summary>
    public TimeSpan MinuteRetention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How often retention runs (default 10 min).</summary>
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most readings written in one transaction (default 8192).</summary>
    public int BatchSize { get; set; } = 8192;

    /// <summary>Readings waiting for the writer before new ones are refused (default 131072).</summary>
    public int QueueCapacity { get; set; } = 131_072;

    internal void Validate(string source)
    {
        if (RawRetention <= TimeSpan.Zero || MinuteRetention < RawRetention)
        {
            throw new SensorConfigException($"{source}: Sensors:Store:RawRetention must be positive and Sensors:Store:MinuteRetention at least as long.");
        }

        if (BatchSize < 1 || QueueCapacity < BatchSize || RetentionInterval <= TimeSpan.Zero)
        {
            throw new SensorConfigException($"{source}: Sensors:Store:BatchSize must be 1 or more, QueueCapacity at least BatchSize, RetentionInterval positive.");
        }
    }
}

/// <summary>A sensor setting or request that cannot be used; the message names the input and the fix.</summary>
public sealed class SensorConfigException : Exception
{
    public SensorConfigException(string message)
        : base(message)
    {
    }

    public SensorConfigException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public SensorConfigException()
    {
    }
}
