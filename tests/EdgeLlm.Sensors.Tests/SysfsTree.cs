using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Sensors.Tests;

/// <summary>A sysfs tree written into a temporary folder, laid out as the kernel lays it out.</summary>
internal sealed class SysfsTree : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public string Root => _dir.Path;

    /// <summary>Writes <paramref name="content"/> (plus the newline sysfs adds) at a path relative to the root.</summary>
    public string Write(string relative, string content)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content + "\n");
        return path;
    }

    public void Delete(string relative) => File.Delete(Path.Combine(Root, relative));

    /// <summary>
    /// Two IIO devices (a BME280 with raw+offset+scale temperature, processed pressure and humidity; an ADS1015 with a
    /// shared voltage scale and one channel that has both _raw and _input), two hwmon chips and three thermal zones
    /// (two of the same type).
    /// </summary>
    public static SysfsTree Typical()
    {
        var t = new SysfsTree();
        const string iio0 = "sys/bus/iio/devices/iio:device0";
        t.Write($"{iio0}/name", "bme280");
        t.Write($"{iio0}/in_temp_raw", "1000");
        t.Write($"{iio0}/in_temp_offset", "150");
        t.Write($"{iio0}/in_temp_scale", "20");
        t.Write($"{iio0}/in_pressure_input", "101.325");
        t.Write($"{iio0}/in_humidityrelative_input", "45500");
        const string iio1 = "sys/bus/iio/devices/iio:device1";
        t.Write($"{iio1}/name", "ads1015");
        t.Write($"{iio1}/in_voltage0_raw", "1024");
        t.Write($"{iio1}/in_voltage1_raw", "512");
        t.Write($"{iio1}/in_voltage_scale", "3.000000");
        t.Write($"{iio1}/in_voltage2_raw", "9999");
        t.Write($"{iio1}/in_voltage2_input", "1250");
        t.Write("sys/class/hwmon/hwmon0/name", "coretemp");
        t.Write("sys/class/hwmon/hwmon0/temp1_input", "45000");
        t.Write("sys/class/hwmon/hwmon0/temp1_label", "Package id 0");
        t.Write("sys/class/hwmon/hwmon0/temp2_input", "43000");
        t.Write("sys/class/hwmon/hwmon1/name", "pwmfan");
        t.Write("sys/class/hwmon/hwmon1/fan1_input", "2400");
        t.Write("sys/class/hwmon/hwmon1/in0_input", "5012");
        t.Write("sys/class/thermal/thermal_zone0/type", "cpu-thermal");
        t.Write("sys/class/thermal/thermal_zone0/temp", "51234");
        t.Write("sys/class/thermal/thermal_zone1/type", "gpu-thermal");
        t.Write("sys/class/thermal/thermal_zone1/temp", "48000");
        t.Write("sys/class/thermal/thermal_zone2/type", "cpu-thermal");
        t.Write("sys/class/thermal/thermal_zone2/temp", "50000");
        return t;
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>A GPIO chip in memory: tests set levels and fire edges.</summary>
internal sealed class FakeGpio : Gpio.IGpioInputs
{
    private readonly Dictionary<int, bool> _levels = [];
    private readonly List<(int Pin, bool Rising, bool Falling, Action OnEdge)> _watchers = [];

    public int FailOpens { get; set; }

    public HashSet<int> Open { get; } = [];

    public void OpenInput(int pin, GpioPull pull)
    {
        if (FailOpens > 0)
        {
            FailOpens--;
            throw new InvalidOperationException($"line {pin} is busy");
        }

        Open.Add(pin);
    }

    public bool Read(int pin) => Open.Contains(pin) ? _levels.GetValueOrDefault(pin) : throw new InvalidOperationException($"line {pin} is not open");

    /// <summary>Drives a line to a level, firing the edge callbacks a real chip would.</summary>
    public void Set(int pin, bool high)
    {
        var was = _levels.GetValueOrDefault(pin);
        _levels[pin] = high;
        if (was == high)
        {
            return;
        }

        foreach (var w in _watchers.Where(w => w.Pin == pin && (high ? w.Rising : w.Falling)).ToList())
        {
            w.OnEdge();
        }
    }

    public IDisposable WatchEdges(int pin, bool rising, bool falling, Action onEdge)
    {
        var entry = (pin, rising, falling, onEdge);
        _watchers.Add(entry);
        return new Unwatch(() => _watchers.Remove(entry));
    }

    public void Dispose() => _watchers.Clear();

    private sealed class Unwatch(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}

/// <summary>Collects published alerts.</summary>
internal sealed class ListPublisher : Alerts.IAlertPublisher
{
    public List<Alerts.SensorAlert> Published { get; } = [];

    public ValueTask PublishAsync(Alerts.SensorAlert alert, CancellationToken cancellationToken)
    {
        lock (Published)
        {
            Published.Add(alert);
        }

        return ValueTask.CompletedTask;
    }
}
