using System.Text.RegularExpressions;

namespace EdgeLlm.Sensors.Sysfs;

/// <summary>
/// Finds the sensors the kernel exposes under a sysfs root: IIO channels (<c>sys/bus/iio/devices/iio:deviceN</c>),
/// hwmon inputs (<c>sys/class/hwmon/hwmonN</c>) and thermal zones (<c>sys/class/thermal/thermal_zoneN</c>).
/// </summary>
internal static partial class SysfsDiscovery
{
    public static IReadOnlyList<SysfsChannel> Discover(string root)
    {
        var found = new List<SysfsChannel>();
        found.AddRange(Iio(Path.Combine(root, "sys", "bus", "iio", "devices")));
        found.AddRange(Hwmon(Path.Combine(root, "sys", "class", "hwmon")));
        found.AddRange(Thermal(Path.Combine(root, "sys", "class", "thermal")));
        return Deduplicate(found);
    }

    // IIO ABI units after scale (Documentation/ABI/testing/sysfs-bus-iio) and the factor to the unit shown here.
    private static (string Unit, double Factor, string Word) IioUnit(string type) => type switch
    {
        "temp" => ("°C", 0.001, "temperature"),
        "voltage" => ("V", 0.001, "voltage"),
        "current" => ("A", 0.001, "current"),
        "power" => ("W", 0.001, "power"),
        "pressure" => ("kPa", 1, "pressure"),
        "humidityrelative" => ("%", 0.001, "humidity"),
        "illuminance" => ("lx", 1, "illuminance"),
        "accel" => ("m/s²", 1, "acceleration"),
        "anglvel" => ("rad/s", 1, "angular velocity"),
        "magn" => ("G", 1, "magnetic field"),
        "resistance" => ("Ω", 1, "resistance"),
        _ => ("", 1, type),
    };

    private static IEnumerable<SysfsChannel> Iio(string dir)
    {
        foreach (var device in Numbered(dir, "iio:device"))
        {
            var deviceName = ReadName(Path.Combine(device, "name")) ?? Path.GetFileName(device);
            var files = Directory.EnumerateFiles(device).Select(Path.GetFileName).OfType<string>().ToHashSet(StringComparer.Ordinal);
            var channels = new SortedDictionary<string, bool>(StringComparer.Ordinal);
            foreach (var file in files)
            {
                var m = IioValueFile().Match(file);
                if (m.Success)
                {
                    // A processed _input wins over _raw: the driver already applied scale and offset.
                    var chan = m.Groups[1].Value;
                    channels[chan] = channels.GetValueOrDefault(chan) || m.Groups[2].Value == "input";
                }
            }

            foreach (var (chan, processed) in channels)
            {
                var type = IioType().Match(chan).Value;
                var (unit, factor, word) = IioUnit(type);
                string? Companion(string suffix) =>
                    files.Contains($"in_{chan}_{suffix}") ? Path.Combine(device, $"in_{chan}_{suffix}")
                    : files.Contains($"in_{type}_{suffix}") ? Path.Combine(device, $"in_{type}_{suffix}")
                    : null;
                yield return new SysfsChannel
                {
                    Id = SensorIds.Sanitize($"iio {deviceName} {chan}"),
                    Name = $"{deviceName} {word}{chan[type.Length..].Replace('_', ' ')}",
                    Unit = unit,
                    Kind = SensorSourceKind.Iio,
                    ValuePath = Path.Combine(device, $"in_{chan}_{(processed ? "input" : "raw")}"),
                    ScalePath = processed ? null : Companion("scale"),
                    OffsetPath = processed ? null : Companion("offset"),
                    Factor = factor,
                };
            }
        }
    }

    private static IEnumerable<SysfsChannel> Hwmon(string dir)
    {
        foreach (var device in Numbered(dir, "hwmon"))
        {
            var deviceName = ReadName(Path.Combine(device, "name")) ?? Path.GetFileName(device);
            var inputs = Directory.EnumerateFiles(device).Select(Path.GetFileName).OfType<string>()
                .Select(f => HwmonInput().Match(f)).Where(m => m.Success)
                .OrderBy(m => m.Groups[1].Value, StringComparer.Ordinal).ThenBy(m => int.Parse(m.Groups[2].Value));
            foreach (var m in inputs)
            {
                var kind = m.Groups[1].Value;
                var label = ReadName(Path.Combine(device, $"{kind}{m.Groups[2].Value}_label")) ?? $"{kind}{m.Groups[2].Value}";
                var (unit, factor) = kind switch
                {
                    "temp" => ("°C", 0.001),
                    "in" => ("V", 0.001),
                    "curr" => ("A", 0.001),
                    "power" => ("W", 0.000001),
                    "humidity" => ("%", 0.001),
                    _ => ("RPM", 1.0),
                };
                yield return new SysfsChannel
                {
                    Id = SensorIds.Sanitize($"hwmon {deviceName} {label}"),
                    Name = $"{deviceName} {label}",
                    Unit = unit,
                    Kind = SensorSourceKind.Hwmon,
                    ValuePath = Path.Combine(device, m.Value),
                    Factor = factor,
                };
            }
        }
    }

    private static IEnumerable<SysfsChannel> Thermal(string dir)
    {
        foreach (var zone in Numbered(dir, "thermal_zone"))
        {
            if (!File.Exists(Path.Combine(zone, "temp")))
            {
                continue;
            }

            var type = ReadName(Path.Combine(zone, "type")) ?? Path.GetFileName(zone);
            yield return new SysfsChannel
            {
                Id = SensorIds.Sanitize($"thermal {type}"),
                Name = $"{type} temperature",
                Unit = "°C",
                Kind = SensorSourceKind.Thermal,
                ValuePath = Path.Combine(zone, "temp"),
                Factor = 0.001,
            };
        }
    }

    /// <summary>Directories named prefix + number, in numeric order so ids stay stable between boots.</summary>
    private static IEnumerable<string> Numbered(string dir, string prefix)
    {
        if (!Directory.Exists(dir))
        {
            return [];
        }

        return Directory.EnumerateDirectories(dir)
            .Select(d => (Dir: d, Name: Path.GetFileName(d)))
            .Where(d => d.Name.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(d.Name.AsSpan(prefix.Length), out _))
            .OrderBy(d => int.Parse(d.Name.AsSpan(prefix.Length)))
            .Select(d => d.Dir);
    }

    private static string? ReadName(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return text.Length == 0 ? null : text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Two zones of the same type (or two chips of the same name) get _2, _3 ... in discovery order.</summary>
    private static List<SysfsChannel> Deduplicate(List<SysfsChannel> channels)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new List<SysfsChannel>(channels.Count);
        foreach (var c in channels)
        {
            var n = seen[c.Id] = seen.GetValueOrDefault(c.Id) + 1;
            result.Add(n == 1 ? c : c with { Id = $"{c.Id}_{n}", Name = $"{c.Name} ({n})" });
        }

        return result;
    }

    [GeneratedRegex(@"^in_(.+)_(raw|input)$")]
    private static partial Regex IioValueFile();

    [GeneratedRegex("^[a-z]+")]
    private static partial Regex IioType();

    [GeneratedRegex(@"^(temp|fan|in|curr|power|humidity)(\d+)_input$")]
    private static partial Regex HwmonInput();
}
