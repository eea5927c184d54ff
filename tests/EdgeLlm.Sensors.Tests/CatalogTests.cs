using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors.Catalog;
using EdgeLlm.Sensors.Sysfs;

namespace EdgeLlm.Sensors.Tests;

public sealed class CatalogTests
{
    private static SensorCatalog Catalog()
    {
        var options = new SensorOptions();
        options.Mqtt.Add(new MqttSensorSettings { Id = "line3_pressure", Name = "Line 3 pressure", Topic = "plant/line3/pressure", Unit = "bar" });
        options.Mqtt.Add(new MqttSensorSettings { Id = "motor2_current", Name = "Motor 2 current", Topic = "plant/motor2/current", Unit = "A" });
        options.Gpio.Add(new GpioSensorSettings { Id = "door_switch", Pin = 17 });
        var spindle = new SensorSettings { Id = "hwmon_coretemp_package_id_0", Name = "Spindle temperature", High = 80, Hysteresis = 2 };
        spindle.Aliases.Add("spindle temp");
        spindle.Aliases.Add("spindle");
        options.Sensors.Add(spindle);
        var motor = new SensorSettings { Id = "motor2_current" };
        motor.Aliases.Add("motor 2");
        options.Sensors.Add(motor);
        using var tree = SysfsTree.Typical();
        return SensorCatalog.Build(options, SysfsDiscovery.Discover(tree.Root), out _);
    }

    [Theory]
    [InlineData("hwmon_coretemp_package_id_0", "hwmon_coretemp_package_id_0")]
    [InlineData("Spindle Temperature", "hwmon_coretemp_package_id_0")]
    [InlineData("spindle_temp", "hwmon_coretemp_package_id_0")]
    [InlineData("SPINDEL TEMP", "hwmon_coretemp_package_id_0")]
    [InlineData("spindle temprature", "hwmon_coretemp_package_id_0")]
    [InlineData("motor-2", "motor2_current")]
    [InlineData("moter 2", "motor2_current")]
    [InlineData("line 3 presure", "line3_pressure")]
    [InlineData("LINE3_PRESSURE", "line3_pressure")]
    [InlineData("door switch", "door_switch")]
    [InlineData("cpu-thermal temperature", "thermal_cpu_thermal")]
    [InlineData("GPU thermal temprature", "thermal_gpu_thermal")]
    public void Resolve_IdNameOrAlias_ToleratesCaseSeparatorsAndTypos(string text, string expected) =>
        Assert.Equal(expected, Catalog().Resolve(text)?.Id);

    [Theory]
    [InlineData("furnace")]
    [InlineData("motor 7 current draw")]
    [InlineData("")]
    [InlineData("pressure")]
    [InlineData("motor 3")]
    [InlineData("thermal_cpu_thermal_9")]
    public void Resolve_NothingCloseEnough_IsNull(string text) => Assert.Null(Catalog().Resolve(text));

    [Fact]
    public void Resolve_TwoSensorsEquallyClose_IsNull()
    {
        var catalog = new SensorCatalog(
        [
            new("pump_a", "pump a", [], "", TimeSpan.FromSeconds(1), SensorSourceKind.Mqtt),
            new("pump_b", "pump b", [], "", TimeSpan.FromSeconds(1), SensorSourceKind.Mqtt),
        ]);
        Assert.Null(catalog.Resolve("pump c"));
        Assert.Equal("pump_b", catalog.Resolve("PUMP-B")!.Id);
    }

    [Fact]
    public void FindMentioned_Question_FindsTheSensorsItNames()
    {
        var found = Catalog().FindMentioned("Is the spindel running hot, and what did line 3 pressure do while motor 2 was on?");
        Assert.Equal(["hwmon_coretemp_package_id_0", "line3_pressure", "motor2_current"], found.Select(s => s.Id));
        Assert.Empty(Catalog().FindMentioned("What is the weather like?"));

        // Numbers identify equipment: motor 3 is not a typo of motor 2.
        Assert.Empty(Catalog().FindMentioned("how is motor 3?"));
    }

    [Fact]
    public void Build_SettingsOverrideDiscoveredSensor_AndUnknownIdsAreReported()
    {
        var options = new SensorOptions();
        options.Sensors.Add(new SensorSettings { Id = "thermal_cpu_thermal", Name = "SoC", Period = TimeSpan.FromSeconds(30), High = 85, Low = 0, Hysteresis = 3, RatePerMinute = 10 });
        options.Sensors.Add(new SensorSettings { Id = "thermal_cpu_thermall" });
        using var tree = SysfsTree.Typical();
        var catalog = SensorCatalog.Build(options, SysfsDiscovery.Discover(tree.Root), out var unmatched);
        var soc = catalog.Get("thermal_cpu_thermal")!;
        Assert.Equal(("SoC", "°C", TimeSpan.FromSeconds(30)), (soc.Name, soc.Unit, soc.Period));
        Assert.Equal(new SensorThresholds(85, 0, 3, 10), soc.Thresholds);
        Assert.Equal(TimeSpan.FromSeconds(5), catalog.Get("thermal_gpu_thermal")!.Period);
        Assert.Equal(["thermal_cpu_thermall"], unmatched);
    }

    [Fact]
    public void Load_ConfigFile_ReadsTheSensorsSection()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir.Path, "agent.json");
        File.WriteAllText(path, """
            {
              "Agent": { "DeviceId": "press-7" },
              // comments are fine
              "Sensors": {
                "SysfsRoot": "/tmp/sys-root",
                "DefaultPeriod": "00:00:02",
                "Sensors": [ { "Id": "thermal_cpu_thermal", "Aliases": ["soc temp"], "High": 80, "Hysteresis": 2 } ],
                "Mqtt": [ { "Id": "line3_pressure", "Topic": "plant/line3/+/pressure", "JsonPath": "$.data.v", "Unit": "bar", "Scale": 0.001 } ],
                "Gpio": [ { "Id": "door", "Pin": 17, "Mode": "EdgeCount", "Pull": "Up" } ],
                "Store": { "RawRetention": "1.00:00:00" }
              }
            }
            """);
        var options = SensorOptions.Load(path);
        Assert.Equal(("/tmp/sys-root", TimeSpan.FromSeconds(2)), (options.SysfsRoot, options.DefaultPeriod));
        Assert.Equal(["soc temp"], options.Sensors.Single().Aliases);
        Assert.Equal(0.001, options.Mqtt.Single().Scale);
        Assert.Equal((GpioInputMode.EdgeCount, GpioPull.Up), (options.Gpio.Single().Mode, options.Gpio.Single().Pull));
        Assert.Equal(TimeSpan.FromDays(1), options.Store.RawRetention);
    }

    [Theory]
    [InlineData("""{"Sensors": {"Mqtt": [{"Id": "Line 3", "Topic": "a/b"}]}}""", "Sensors:Mqtt:0:Id")]
    [InlineData("""{"Sensors": {"Mqtt": [{"Id": "a", "Topic": "a/#/b"}]}}""", "Sensors:Mqtt:0:Topic")]
    [InlineData("""{"Sensors": {"Mqtt": [{"Id": "a", "Topic": "x"}, {"Id": "a", "Topic": "y"}]}}""", "Sensors:Mqtt:1:Id")]
    [InlineData("""{"Sensors": {"Mqtt": [{"Id": "a", "Topic": "x", "Scale": 0}]}}""", "Sensors:Mqtt:0:Scale")]
    [InlineData("""{"Sensors": {"Sensors": [{"Id": "a", "High": 1, "Low": 5}]}}""", "Sensors:Sensors:0")]
    [InlineData("""{"Sensors": {"DefaultPeriod": "soon"}}""", "DefaultPeriod")]
    [InlineData("""{"Sensors": {"Store": {"BatchSize": 0}}}""", "BatchSize")]
    public void Load_BadSetting_NamesTheFileAndField(string json, string field)
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir.Path, "agent.json");
        File.WriteAllText(path, json);
        var ex = Assert.Throws<SensorConfigException>(() => SensorOptions.Load(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }
}
