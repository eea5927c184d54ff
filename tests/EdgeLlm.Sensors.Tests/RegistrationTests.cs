using System.Text;
using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors.Alerts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EdgeLlm.Sensors.Tests;

public sealed class RegistrationTests
{
    [Fact]
    public async Task AddEdgeSensors_BindsTheSectionAndRunsTheHubInTheHost()
    {
        using var tree = SysfsTree.Typical();
        using var dir = TestPaths.NewTempDir();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Sensors:SysfsRoot"] = tree.Root,
            ["Sensors:DefaultPeriod"] = "00:01:00",
            ["Sensors:Sensors:0:Id"] = "thermal_cpu_thermal",
            ["Sensors:Sensors:0:Aliases:0"] = "soc temp",
            ["Sensors:Sensors:0:High"] = "50",
            ["Sensors:Mqtt:0:Id"] = "tank_level",
            ["Sensors:Mqtt:0:Topic"] = "plant/tank/+",
            ["Sensors:Mqtt:0:Unit"] = "%",
            ["Sensors:Gpio:0:Id"] = "door",
            ["Sensors:Gpio:0:Pin"] = "17",
            ["Sensors:Gpio:0:Mode"] = "EdgeCount",
        });
        var publisher = new ListPublisher();
        builder.Services.AddSingleton<IAlertPublisher>(publisher);
        builder.Services.AddSingleton<Gpio.IGpioInputs>(new FakeGpio());
        builder.AddEdgeSensors(_ => Path.Combine(dir.Path, "agent.db"));
        using var host = builder.Build();
        await host.StartAsync();
        var hub = host.Services.GetRequiredService<SensorHub>();
        Assert.Equal("thermal_cpu_thermal", hub.Catalog.Resolve("SoC temp")!.Id);
        Assert.Equal(("count", TimeSpan.FromMinutes(1)), (hub.Catalog.Get("door")!.Unit, hub.Catalog.Get("door")!.Period));
        Assert.Equal(["plant/tank/+"], hub.Mqtt.TopicFilters);
        Assert.Equal(1, hub.Mqtt.Ingest("plant/tank/3", Encoding.UTF8.GetBytes("61.5"), TimeProvider.System.GetUtcNow()));
        await host.StopAsync();

        // 51.234 °C at start is above the configured 50 °C limit.
        Assert.Equal("thermal_cpu_thermal", Assert.Single(publisher.Published).SensorId);
        Assert.Equal(61.5, hub.Store.Latest("tank_level")!.Value.Value);
    }

    [Fact]
    public void AddEdgeSensors_BadSetting_FailsAtStartNamingTheField()
    {
        using var dir = TestPaths.NewTempDir();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Sensors:Mqtt:0:Id"] = "tank", ["Sensors:Mqtt:0:Topic"] = "a/#/b" });
        builder.AddEdgeSensors(_ => Path.Combine(dir.Path, "agent.db"));
        using var host = builder.Build();
        var ex = Assert.Throws<SensorConfigException>(() => host.Services.GetRequiredService<SensorHub>());
        Assert.Contains("Sensors:Mqtt:0:Topic", ex.Message, StringComparison.Ordinal);
    }
}
