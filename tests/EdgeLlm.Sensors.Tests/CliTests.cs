using System.Text.Json;
using EdgeLlm.Cli.Tests;
using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors.Storage;

namespace EdgeLlm.Sensors.Tests;

/// <summary>`edgellm sensors …` through the real executable, against a generated sysfs tree and a store in a temp folder.</summary>
public sealed class CliTests : IDisposable
{
    private readonly SysfsTree _tree = SysfsTree.Typical();
    private readonly TempDir _data = TestPaths.NewTempDir();
    private readonly string _config;

    public CliTests()
    {
        _config = Path.Combine(_data.Path, "agent.json");
        File.WriteAllText(_config, """
            {"Sensors": {
              "Sensors": [{"Id": "hwmon_coretemp_package_id_0", "Name": "Spindle temperature", "Aliases": ["spindle temp"], "High": 80, "Hysteresis": 2}],
              "Mqtt": [{"Id": "line3_pressure", "Name": "Line 3 pressure", "Topic": "plant/line3/pressure", "Unit": "bar"}]
            }}
            """);
    }

    public void Dispose()
    {
        _tree.Dispose();
        _data.Dispose();
    }

    private Task<CliResult> Run(params string[] args) =>
        EdgeLlm.Cli.Tests.Cli.RunAsync([.. args, "--sysfs-root", _tree.Root, "--config", _config, "--data-dir", _data.Path]);

    [Fact]
    public async Task List_Json_ShowsDiscoveredAndConfiguredSensorsWithAliases()
    {
        var sensors = (await Run("sensors", "list", "--json")).Json().GetProperty("sensors").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!);
        Assert.Equal(14, sensors.Count);
        var spindle = sensors["hwmon_coretemp_package_id_0"];
        Assert.Equal("Spindle temperature", spindle.GetProperty("name").GetString());
        Assert.Equal(["spindle temp"], spindle.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(80, spindle.GetProperty("thresholds").GetProperty("high").GetDouble());
        Assert.Equal(("mqtt", "bar"), (sensors["line3_pressure"].GetProperty("source").GetString(), sensors["line3_pressure"].GetProperty("unit").GetString()));
        Assert.Equal("°C", sensors["thermal_cpu_thermal"].GetProperty("unit").GetString());
    }

    [Fact]
    public async Task Read_AliasWithTypo_ReadsTheSysfsValueNow()
    {
        var json = (await Run("sensors", "read", "Spindel Temp", "--json")).Json();
        Assert.Equal("hwmon_coretemp_package_id_0", json.GetProperty("id").GetString());
        Assert.Equal((45.0, "°C"), (json.GetProperty("value").GetDouble(), json.GetProperty("unit").GetString()));
        var text = await Run("sensors", "read", "iio_bme280_temp");
        Assert.Equal(0, text.ExitCode);
        Assert.Equal("iio_bme280_temp (bme280 temperature): 23 °C", text.Stdout.Trim());
    }

    [Fact]
    public async Task Read_VanishedFileOrUnknownSensorOrMqttSensor_FailsWithAClearLine()
    {
        _tree.Write("sys/class/thermal/thermal_zone1/temp", "\u0001\u0002");
        var garbage = await Run("sensors", "read", "thermal_gpu_thermal");
        Assert.Equal(1, garbage.ExitCode);
        Assert.Contains("NotNumeric", garbage.Stderr, StringComparison.Ordinal);
        Assert.Contains("thermal_zone1/temp", garbage.Stderr, StringComparison.Ordinal);

        // A zone without its temp file is not a sensor any more; its id must not fall through to the cpu zone.
        _tree.Delete("sys/class/thermal/thermal_zone1/temp");
        var vanished = await Run("sensors", "read", "thermal_gpu_thermal");
        Assert.Equal(1, vanished.ExitCode);
        Assert.Contains("No sensor matches 'thermal_gpu_thermal'", vanished.Stderr, StringComparison.Ordinal);

        var unknown = await Run("sensors", "read", "furnace", "--json");
        Assert.Equal(1, unknown.ExitCode);
        using var error = JsonDocument.Parse(unknown.Stderr);
        Assert.Contains("No sensor matches 'furnace'", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        var mqtt = await Run("sensors", "read", "line 3 pressure");
        Assert.Equal(1, mqtt.ExitCode);
        Assert.Contains("sensors query line3_pressure", mqtt.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_Window_AggregatesTheStoreAndListsCrossings()
    {
        var now = TimeProvider.System.GetUtcNow();
        using (var store = SensorStore.Open(Path.Combine(_data.Path, "agent.db")))
        {
            double[] values = [70, 75, 79, 81, 83, 78, 76];
            store.Append([.. values.Select((v, i) => new SensorReading("hwmon_coretemp_package_id_0", now.AddMinutes(-35 + (i * 5)), v))]);
            store.Append([new SensorReading("hwmon_coretemp_package_id_0", now.AddHours(-3), 99)]);
        }

        var json = (await Run("sensors", "query", "spindle temp", "--window", "1h", "--json")).Json();
        Assert.Equal(("hwmon_coretemp_package_id_0", "1h", 7), (json.GetProperty("id").GetString(), json.GetProperty("window").GetString(), json.GetProperty("count").GetInt32()));
        Assert.Equal((70.0, 83.0), (json.GetProperty("min").GetDouble(), json.GetProperty("max").GetDouble()));
        Assert.Equal(542.0 / 7, json.GetProperty("avg").GetDouble(), 9);
        Assert.True(json.GetProperty("trend_per_hour").GetDouble() > 0);
        Assert.Equal(76, json.GetProperty("latest").GetProperty("value").GetDouble());
        // The 99 before the window makes its first reading, 70, a downward crossing.
        Assert.Equal(["down", "up", "down"], json.GetProperty("crossings").EnumerateArray().Select(c => c.GetProperty("direction").GetString()));

        var wider = (await Run("sensors", "query", "hwmon_coretemp_package_id_0", "--window", "4h", "--json")).Json();
        Assert.Equal((8, 99.0), (wider.GetProperty("count").GetInt32(), wider.GetProperty("max").GetDouble()));
    }

    [Fact]
    public async Task Query_BadWindowOrNoStore_NamesTheInput()
    {
        var noStore = await Run("sensors", "query", "spindle temp");
        Assert.Equal(1, noStore.ExitCode);
        Assert.Contains(Path.Combine(_data.Path, "agent.db"), noStore.Stderr, StringComparison.Ordinal);
        SensorStore.Open(Path.Combine(_data.Path, "agent.db")).Dispose();
        var badWindow = await Run("sensors", "query", "spindle temp", "--window", "soon");
        Assert.Equal(1, badWindow.ExitCode);
        Assert.Contains("--window 'soon'", badWindow.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadConfig_NamesTheFileAndField()
    {
        File.WriteAllText(_config, """{"Sensors": {"Mqtt": [{"Id": "Line 3", "Topic": "a"}]}}""");
        var result = await Run("sensors", "list");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Sensors:Mqtt:0:Id", result.Stderr, StringComparison.Ordinal);
        Assert.Contains(_config, result.Stderr, StringComparison.Ordinal);
    }
}
