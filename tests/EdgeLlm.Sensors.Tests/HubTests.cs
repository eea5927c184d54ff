using System.Text;
using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors.Alerts;
using EdgeLlm.Sensors.Storage;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Sensors.Tests;

public sealed class HubTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);

    private static SensorOptions Options(SysfsTree tree)
    {
        var options = new SensorOptions { SysfsRoot = tree.Root, DefaultPeriod = TimeSpan.FromSeconds(10) };
        options.Mqtt.Add(new MqttSensorSettings { Id = "line3_pressure", Name = "Line 3 pressure", Topic = "plant/line3/pressure", Unit = "bar" });
        options.Gpio.Add(new GpioSensorSettings { Id = "door", Pin = 17 });
        options.Sensors.Add(new SensorSettings { Id = "line3_pressure", High = 6, Hysteresis = 0.5 });
        options.Sensors.Add(new SensorSettings { Id = "thermal_cpu_thermal", Period = TimeSpan.FromSeconds(30) });
        return options;
    }

    [Fact]
    public async Task Hub_SamplesSysfsAndGpio_StoresMqtt_PublishesAlerts_AndSurvivesABadSource()
    {
        using var tree = SysfsTree.Typical();
        using var dir = TestPaths.NewTempDir();
        var time = new FakeTimeProvider(T0);
        var publisher = new ListPublisher();
        using var gpio = new FakeGpio();
        gpio.Set(17, true);
        var hub = new SensorHub(Options(tree), Path.Combine(dir.Path, "agent.db"), time, alerts: publisher, gpio: gpio);
        await using (hub)
        {
            await hub.StartAsync(CancellationToken.None);
            tree.Delete("sys/class/hwmon/hwmon1/fan1_input");
            tree.Write("sys/class/thermal/thermal_zone1/temp", "garbage");
            Assert.Equal(11, hub.PollDue(T0.AddSeconds(10)));
            Assert.Equal(0, hub.PollDue(T0.AddSeconds(15)));

            // The 30 s sensor is not due again until T0 + 30 s.
            Assert.Equal(11, hub.PollDue(T0.AddSeconds(20)));
            foreach (var (v, s) in new[] { (5.0, 1), (6.1, 2), (6.3, 3), (5.7, 4), (5.4, 5) })
            {
                hub.Mqtt.Ingest("plant/line3/pressure", Encoding.UTF8.GetBytes(v.ToString(System.Globalization.CultureInfo.InvariantCulture)), T0.AddSeconds(s));
            }

            hub.Mqtt.Ingest("plant/line3/pressure", "n/a"u8.ToArray(), T0.AddSeconds(6));
            await hub.StopAsync(CancellationToken.None);

            Assert.Equal(14 + 11 + 11 + 5, hub.Written);
            Assert.Equal(2, hub.Rejections.Count("hwmon_pwmfan_fan1", RejectReason.SourceMissing));
            Assert.Equal(2, hub.Rejections.Count("thermal_gpu_thermal", RejectReason.NotNumeric));
            Assert.Equal(1, hub.Rejections.Count("line3_pressure", RejectReason.NotNumeric));
            Assert.Equal(1, hub.Store.Window("thermal_gpu_thermal", T0, T0.AddMinutes(1)).Count);
            Assert.Equal(3, hub.Store.Window("iio_bme280_temp", T0, T0.AddMinutes(1)).Count);
            Assert.Equal(1, hub.Store.Window("thermal_cpu_thermal", T0, T0.AddMinutes(1)).Count);
            Assert.Equal(1, hub.Store.Latest("door")!.Value.Value);
            var pressure = hub.Store.Window("line3_pressure", T0, T0.AddMinutes(1));
            Assert.Equal((5L, 6.3), (pressure.Count, pressure.Max!.Value));
            Assert.Equal([AlertState.Raised, AlertState.Cleared], publisher.Published.Select(a => a.State));
            Assert.Equal(T0.AddSeconds(5), publisher.Published[1].Timestamp);

            // Crossings are of the limit itself; the alert's hysteresis does not apply to the history.
            time.Advance(TimeSpan.FromSeconds(10));
            var query = hub.Query(hub.Catalog.Get("line3_pressure")!, TimeSpan.FromMinutes(1));
            Assert.Equal((5L, 5.7, "1m"), (query.Count, query.Avg!.Value, query.Window));
            Assert.Equal(new LatestReading(5.4, T0.AddSeconds(5)), query.Latest);
            Assert.Equal([("up", 2), ("down", 4)], query.Crossings.Select(c => (c.Direction, (int)(c.Timestamp - T0).TotalSeconds)));
        }
    }

    [Fact]
    public async Task Summarize_ResolvedSensors_GivesUnitLabelledLines()
    {
        using var tree = SysfsTree.Typical();
        using var dir = TestPaths.NewTempDir();
        var time = new FakeTimeProvider(T0);
        var hub = new SensorHub(Options(tree), Path.Combine(dir.Path, "agent.db"), time, gpio: new FakeGpio());
        await using (hub)
        {
            await hub.StartAsync(CancellationToken.None);
            for (var i = 1; i <= 60; i++)
            {
                hub.Mqtt.Ingest("plant/line3/pressure", Encoding.UTF8.GetBytes($"{4 + (i * 0.01):0.00}"), T0.AddMinutes(-60 + i));
            }

            await hub.StopAsync(CancellationToken.None);
            var sensors = hub.Catalog.FindMentioned("what did line 3 pressure and the cpu thermal temperature do?");
            var text = hub.Summarize(sensors, TimeSpan.FromHours(1));
            Assert.Equal(
                "line3_pressure (Line 3 pressure, bar): now 4.6 bar at 08:00:00Z; last 1h: min 4.01, avg 4.305, max 4.6 over 60 readings, trend +0.6 bar/h; high limit 6\n"
                + "thermal_cpu_thermal (cpu-thermal temperature, °C): now 51.234 °C at 08:00:00Z; last 1h: min 51.234, avg 51.234, max 51.234 over 1 reading\n",
                text);
        }
    }
}
