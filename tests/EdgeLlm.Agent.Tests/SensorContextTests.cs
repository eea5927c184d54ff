using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Agent.Sensors;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests;

/// <summary>The sensors' context source on a real hub and SQLite store, and its lines in a real prompt.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes it through IAsyncLifetime.DisposeAsync.")]
public sealed class SensorContextTests : IAsyncLifetime
{
    private readonly TempDir _dir = TestPaths.NewTempDir();
    private SensorHub? _hub;

    private SensorHub Hub => _hub!;

    public async Task InitializeAsync()
    {
        var options = new SensorOptions { SysfsRoot = Directory.CreateDirectory(Path.Combine(_dir.Path, "sysfs")).FullName };
        options.Mqtt.Add(new MqttSensorSettings { Id = "spindle_temp", Name = "Spindle temperature", Topic = "plant/spindle", Unit = "°C" });
        options.Mqtt.Add(new MqttSensorSettings { Id = "line3_pressure", Name = "Line 3 pressure", Topic = "plant/line3", Unit = "bar" });
        options.Mqtt.Add(new MqttSensorSettings { Id = "door", Name = "Cabinet door", Topic = "plant/door" });
        _hub = new SensorHub(options, Path.Combine(_dir.Path, "agent.db"), TimeProvider.System);
        await _hub.StartAsync(CancellationToken.None);
        var now = TimeProvider.System.GetUtcNow();
        Assert.True(_hub.Sink.Submit("spindle_temp", now.AddMinutes(-2), 69.5));
        Assert.True(_hub.Sink.Submit("spindle_temp", now.AddMinutes(-1), 71.25));
        Assert.True(_hub.Sink.Submit("line3_pressure", now.AddMinutes(-1), 4.5));
        // Stopping waits until every accepted reading is written; queries still work afterwards.
        await _hub.StopAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await Hub.DisposeAsync();
        _dir.Dispose();
    }

    private static QueryContext Query(string question, string mode = AskModes.Auto) => new() { RequestId = "t", Question = question, Mode = mode };

    [Fact]
    public async Task A_named_sensor_is_summarized_and_reported_with_its_latest_reading()
    {
        var context = await new SensorContextSource(Hub).GetAsync(Query("Is the spindle temprature too high?"), CancellationToken.None);

        var used = Assert.Single(context.Sensors);
        Assert.Equal(("spindle_temp", 71.25, "°C"), (used.Id, used.Value, used.Unit));
        var passage = Assert.Single(context.Passages);
        Assert.Contains("spindle_temp (Spindle temperature, °C): now 71.25 °C", passage, StringComparison.Ordinal);
        Assert.Contains("min 69.5, avg 70.375, max 71.25 over 2 readings", passage, StringComparison.Ordinal);
        Assert.DoesNotContain("line3_pressure", passage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_prompt_carries_the_summary()
    {
        var dir = Path.Combine(_dir.Path, "model");
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", dir, 1));
        var options = new AgentOptions { DataDir = _dir.Path, Model = dir };
        using var active = new ActiveModel(Options.Create(options), NullLogger<ActiveModel>.Instance);
        await active.StartingAsync(CancellationToken.None);
        var source = new SensorContextSource(Hub);
        var pipeline = new QueryPipeline(active, [source], Options.Create(options), TimeProvider.System);
        var query = Query("What did line 3 pressure do?");

        var request = pipeline.BuildRequest(active.Model!, query, await source.GetAsync(query, CancellationToken.None));

        var prompt = active.Model!.Tokenizer.Decode(request.PromptIds);
        Assert.Contains("line3_pressure (Line 3 pressure, bar): now 4.5 bar", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sensors_mode_without_a_name_summarizes_every_sensor_and_reports_those_with_readings()
    {
        var context = await new SensorContextSource(Hub).GetAsync(Query("Anything unusual?", AskModes.Sensors), CancellationToken.None);

        Assert.Equal(["line3_pressure", "spindle_temp"], context.Sensors.Select(s => s.Id).Order());
        Assert.Contains("door (Cabinet door): no readings stored", context.Passages[0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Anything unusual?", AskModes.Auto)]
    [InlineData("Is the spindle temperature too high?", AskModes.Manuals)]
    [InlineData("Is the spindle temperature too high?", AskModes.Chat)]
    public async Task Questions_naming_no_sensor_or_in_other_modes_get_nothing(string question, string mode)
    {
        var context = await new SensorContextSource(Hub).GetAsync(Query(question, mode), CancellationToken.None);

        Assert.True(context.IsEmpty);
    }

    [Theory]
    [InlineData("no such thing")]
    [InlineData("vibration sensor")]
    public void A_long_unknown_name_resolves_to_no_short_sensor(string text) => Assert.Null(Hub.Catalog.Resolve(text));

    [Fact]
    public void The_sysfs_root_switch_sets_the_sensors_setting_and_must_be_a_directory()
    {
        Assert.Equal(_dir.Path, AgentHost.SwitchSettings(new AgentSwitches { SysfsRoot = _dir.Path })["Sensors:SysfsRoot"]);
        var missing = Path.Combine(_dir.Path, "missing");
        var ex = Assert.Throws<ArgumentException>(() => AgentHost.SwitchSettings(new AgentSwitches { SysfsRoot = missing }));
        Assert.Contains("--sysfs-root", ex.Message, StringComparison.Ordinal);
    }
}
