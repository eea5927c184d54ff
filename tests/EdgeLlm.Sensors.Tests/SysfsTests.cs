using EdgeLlm.Sensors.Ingestion;
using EdgeLlm.Sensors.Sysfs;

namespace EdgeLlm.Sensors.Tests;

public sealed class SysfsTests
{
    private static Dictionary<string, (string Unit, double Value, SensorSourceKind Kind)> ReadAll(SysfsTree tree) =>
        SysfsDiscovery.Discover(tree.Root).ToDictionary(c => c.Id, c =>
        {
            Assert.True(c.TryRead(out var v, out var reason, out var detail), $"{c.Id}: {reason} {detail}");
            return (c.Unit, v, c.Kind);
        });

    [Fact]
    public void Discover_TypicalTree_FindsEveryChannelInDisplayUnits()
    {
        using var tree = SysfsTree.Typical();
        var all = ReadAll(tree);
        Assert.Equal(
            ["hwmon_coretemp_package_id_0", "hwmon_coretemp_temp2", "hwmon_pwmfan_fan1", "hwmon_pwmfan_in0",
             "iio_ads1015_voltage0", "iio_ads1015_voltage1", "iio_ads1015_voltage2",
             "iio_bme280_humidityrelative", "iio_bme280_pressure", "iio_bme280_temp",
             "thermal_cpu_thermal", "thermal_cpu_thermal_2", "thermal_gpu_thermal"],
            all.Keys.Order(StringComparer.Ordinal));

        // (raw + offset) × scale in milli-degrees: (1000 + 150) × 20 = 23000 m°C.
        Assert.Equal(("°C", 23.0, SensorSourceKind.Iio), all["iio_bme280_temp"]);
        Assert.Equal(("kPa", 101.325, SensorSourceKind.Iio), all["iio_bme280_pressure"]);
        Assert.Equal("%", all["iio_bme280_humidityrelative"].Unit);
        Assert.Equal(45.5, all["iio_bme280_humidityrelative"].Value, 9);

        // The shared in_voltage_scale applies to every voltage channel: 1024 × 3 mV.
        Assert.Equal(3.072, all["iio_ads1015_voltage0"].Value, 9);
        Assert.Equal(1.536, all["iio_ads1015_voltage1"].Value, 9);
        Assert.Equal(("°C", 45.0, SensorSourceKind.Hwmon), all["hwmon_coretemp_package_id_0"]);
        Assert.Equal(("RPM", 2400.0, SensorSourceKind.Hwmon), all["hwmon_pwmfan_fan1"]);
        Assert.Equal("V", all["hwmon_pwmfan_in0"].Unit);
        Assert.Equal(5.012, all["hwmon_pwmfan_in0"].Value, 9);
        Assert.Equal(("°C", 51.234, SensorSourceKind.Thermal), all["thermal_cpu_thermal"]);
        Assert.Equal(50.0, all["thermal_cpu_thermal_2"].Value);
    }

    [Fact]
    public void Discover_ChannelWithRawAndInput_UsesTheProcessedInput()
    {
        using var tree = SysfsTree.Typical();
        Assert.Equal(1.25, ReadAll(tree)["iio_ads1015_voltage2"].Value, 9);
    }

    [Fact]
    public void Discover_LabelsAndTypes_GiveHumanNames()
    {
        using var tree = SysfsTree.Typical();
        var names = SysfsDiscovery.Discover(tree.Root).ToDictionary(c => c.Id, c => c.Name);
        Assert.Equal("coretemp Package id 0", names["hwmon_coretemp_package_id_0"]);
        Assert.Equal("bme280 temperature", names["iio_bme280_temp"]);
        Assert.Equal("ads1015 voltage0", names["iio_ads1015_voltage0"]);
        Assert.Equal("cpu-thermal temperature (2)", names["thermal_cpu_thermal_2"]);
    }

    [Fact]
    public void Discover_EmptyRoot_FindsNothing()
    {
        using var tree = new SysfsTree();
        Assert.Empty(SysfsDiscovery.Discover(tree.Root));
    }

    [Fact]
    public void TryRead_FileVanished_IsSourceMissing()
    {
        using var tree = SysfsTree.Typical();
        var zone = SysfsDiscovery.Discover(tree.Root).Single(c => c.Id == "thermal_gpu_thermal");
        tree.Delete("sys/class/thermal/thermal_zone1/temp");
        Assert.False(zone.TryRead(out _, out var reason, out var detail));
        Assert.Equal(RejectReason.SourceMissing, reason);
        Assert.Contains("thermal_zone1", detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage", RejectReason.NotNumeric)]
    [InlineData("", RejectReason.NotNumeric)]
    [InlineData("12a4", RejectReason.NotNumeric)]
    [InlineData("NaN", RejectReason.NotFinite)]
    [InlineData("-Infinity", RejectReason.NotFinite)]
    public void TryRead_BadContent_IsRejectedWithReason(string content, RejectReason expected)
    {
        using var tree = SysfsTree.Typical();
        var fan = SysfsDiscovery.Discover(tree.Root).Single(c => c.Id == "hwmon_pwmfan_fan1");
        tree.Write("sys/class/hwmon/hwmon1/fan1_input", content);
        Assert.False(fan.TryRead(out _, out var reason, out _));
        Assert.Equal(expected, reason);
    }

    [Fact]
    public void TryRead_ScaleFileGarbage_RejectsTheChannelOnly()
    {
        using var tree = SysfsTree.Typical();
        var channels = SysfsDiscovery.Discover(tree.Root).ToDictionary(c => c.Id);
        tree.Write("sys/bus/iio/devices/iio:device0/in_temp_scale", "?");
        Assert.False(channels["iio_bme280_temp"].TryRead(out _, out var reason, out _));
        Assert.Equal(RejectReason.NotNumeric, reason);
        Assert.True(channels["iio_bme280_pressure"].TryRead(out var pressure, out _, out _));
        Assert.Equal(101.325, pressure);
    }
}
