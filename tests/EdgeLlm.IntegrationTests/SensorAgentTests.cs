using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors;

namespace EdgeLlm.IntegrationTests;

/// <summary>One agent with a generated sysfs tree and MQTT-mapped sensors, shared by the sensor tests.</summary>
public sealed class SensorAgent : IAsyncLifetime
{
    public const string Spindle = "hwmon_coretemp_package_id_0";
    private readonly TempDir _sysfs = TestModels.NewTempDir();
    private AgentFixture? _agent;

    internal AgentFixture Agent => _agent!;

    public async Task InitializeAsync()
    {
        Write("sys/class/hwmon/hwmon0/name", "coretemp");
        Write("sys/class/hwmon/hwmon0/temp1_input", "45000");
        Write("sys/class/hwmon/hwmon0/temp1_label", "Package id 0");
        var settings = new Dictionary<string, string?>
        {
            ["Sensors:SysfsRoot"] = _sysfs.Path,
            ["Sensors:Sensors:0:Id"] = Spindle,
            ["Sensors:Sensors:0:Name"] = "Spindle temperature",
            ["Sensors:Sensors:0:Aliases:0"] = "spindle temp",
            ["Sensors:Sensors:1:Id"] = "coolant_temp",
            ["Sensors:Sensors:1:High"] = "80",
            ["Sensors:Sensors:1:Hysteresis"] = "2",
        };
        Mapping(settings, 0, "line3_pressure", "plant/line3/pressure", "bar", "$.bar");
        Mapping(settings, 1, "coolant_temp", "plant/coolant/temp", "°C", null);
        Mapping(settings, 2, "tank_level", "plant/tank/level", "%", null);
        Mapping(settings, 3, "flow", "plant/flow", "l/min", "$.v");
        _agent = await AgentFixture.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        _sysfs.Dispose();
    }

    private void Write(string relative, string content)
    {
        var path = Path.Combine(_sysfs.Path, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content + "\n");
    }

    private static void Mapping(Dictionary<string, string?> settings, int i, string id, string topic, string unit, string? jsonPath)
    {
        settings[$"Sensors:Mqtt:{i}:Id"] = id;
        settings[$"Sensors:Mqtt:{i}:Topic"] = topic;
        settings[$"Sensors:Mqtt:{i}:Unit"] = unit;
        if (jsonPath is not null)
        {
            settings[$"Sensors:Mqtt:{i}:JsonPath"] = jsonPath;
            settings[$"Sensors:Mqtt:{i}:TimestampPath"] = "$.ts";
        }
    }
}

/// <summary>The agent's sensors over MQTT: readings in, alerts out, structured queries, and sensors in answers.</summary>
public sealed class SensorAgentTests(SensorAgent fixture) : IClassFixture<SensorAgent>
{
    private static readonly DateTimeOffset Base = TimeProvider.System.GetUtcNow().AddMinutes(-30);

    private AgentFixture Agent => fixture.Agent;

    private static string Ts(int seconds) => Base.AddSeconds(seconds).UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Readings_on_the_sensor_topic_and_a_mapped_topic_land_in_the_store()
    {
        await using var client = await SensorClient.ConnectAsync(Agent);
        await client.ReadingAsync("line3_pressure", 3.5, Base.AddSeconds(1));
        await client.PublishAsync("plant/line3/pressure", $$"""{"bar": 4.25, "ts": "{{Ts(2)}}"}""");

        var reply = await client.QueryUntilAsync("line3_pressure", r => r.GetProperty("data").GetProperty("count").GetInt64() == 2);

        Assert.Equal(3.5, reply.GetProperty("data").GetProperty("min").GetDouble());
        Assert.Equal(4.25, reply.GetProperty("data").GetProperty("max").GetDouble());
        var stored = Agent.Get<SensorHub>().Store.Latest("line3_pressure");
        Assert.Equal(4.25, stored!.Value.Value);
    }

    [Fact]
    public async Task A_non_numeric_payload_is_rejected_and_the_next_one_accepted()
    {
        var hub = Agent.Get<SensorHub>();
        await using var client = await SensorClient.ConnectAsync(Agent);
        await client.PublishAsync(MqttTopics.Sensor(Agent.DeviceId, "tank_level"), "full-ish");
        await client.PublishAsync("plant/tank/level", "N/A");
        await client.ReadingAsync("tank_level", 61.5, Base.AddSeconds(3));

        var reply = await client.QueryUntilAsync("tank_level", r => r.GetProperty("data").GetProperty("count").GetInt64() >= 1);

        Assert.Equal(1, reply.GetProperty("data").GetProperty("count").GetInt64());
        Assert.Equal(61.5, reply.GetProperty("data").GetProperty("latest").GetProperty("value").GetDouble());
        // The handler ran for all three in order, so both refusals are counted by the time the reading is stored.
        Assert.Equal(2, hub.Rejections.Snapshot().Where(r => r.Sensor == "tank_level").Sum(r => r.Count));
    }

    [Fact]
    public async Task A_threshold_crossing_publishes_one_alert_and_one_back_to_normal()
    {
        var alerts = MqttTopics.Alerts(Agent.DeviceId);
        await using var client = await SensorClient.ConnectAsync(Agent, alerts);
        double[] values = [70, 85, 90, 79, 86, 70];
        for (var i = 0; i < values.Length; i++)
        {
            await client.ReadingAsync("coolant_temp", values[i], Base.AddSeconds(10 + i));
        }

        var raised = SensorClient.Json(await client.NextAsync(alerts));
        var cleared = SensorClient.Json(await client.NextAsync(alerts));

        Assert.Equal(("coolant_temp", "high", "raised", 85.0, 80.0), (raised.GetProperty("sensor_id").GetString(), raised.GetProperty("kind").GetString(),
            raised.GetProperty("state").GetString(), raised.GetProperty("value").GetDouble(), raised.GetProperty("limit").GetDouble()));
        Assert.Equal(("cleared", 70.0), (cleared.GetProperty("state").GetString(), cleared.GetProperty("value").GetDouble()));
        Assert.Contains("°C", cleared.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_structured_query_returns_data_and_errors_with_agent_codes()
    {
        await using var client = await SensorClient.ConnectAsync(Agent);
        var data = await client.QueryUntilAsync("Spindle Temprature", r => r.GetProperty("data").GetProperty("count").GetInt64() >= 1);
        var d = data.GetProperty("data");
        Assert.Equal(("sensor_data", SensorAgent.Spindle, "°C", "1h"), (data.GetProperty("type").GetString(), d.GetProperty("id").GetString(), d.GetProperty("unit").GetString(), d.GetProperty("window").GetString()));
        Assert.Equal(45, d.GetProperty("latest").GetProperty("value").GetDouble());

        // Without MQTT 5: reply_to and correlation_id in the payload.
        await client.PublishAsync(MqttTopics.SensorQuery(Agent.DeviceId), JsonSerializer.Serialize(new { id = "q1", sensor = "spindle temp", window = "15m", reply_to = client.ReplyTopic, correlation_id = "c-1" }));
        var viaField = SensorClient.Json(await client.NextAsync(client.ReplyTopic));
        Assert.Equal(("q1", "c-1", "15m"), (viaField.GetProperty("id").GetString(), viaField.GetProperty("correlation_id").GetString(), viaField.GetProperty("data").GetProperty("window").GetString()));

        await client.PublishAsync(MqttTopics.SensorQuery(Agent.DeviceId), """{"id": "q2", "sensor": "no such thing"}""", client.ReplyTopic, Encoding.UTF8.GetBytes("corr"));
        var unknown = await client.NextAsync(client.ReplyTopic);
        var error = SensorClient.Json(unknown);
        Assert.Equal(("error", "q2", ErrorCodes.InvalidRequest), (error.GetProperty("type").GetString(), error.GetProperty("id").GetString(), error.GetProperty("code").GetString()));
        Assert.Equal("corr", Encoding.UTF8.GetString(unknown.CorrelationData));

        await client.PublishAsync(MqttTopics.SensorQuery(Agent.DeviceId), """{"id": "q3", "sensor": "spindle temp", "window": "soon"}""", client.ReplyTopic);
        var badWindow = SensorClient.Json(await client.NextAsync(client.ReplyTopic));
        Assert.Equal((ErrorCodes.InvalidRequest, true), (badWindow.GetProperty("code").GetString(), badWindow.GetProperty("message").GetString()!.Contains("window", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task An_ask_naming_a_sensor_reports_it_in_the_answer()
    {
        await using var sensors = await SensorClient.ConnectAsync(Agent);
        await sensors.QueryUntilAsync(SensorAgent.Spindle, r => r.GetProperty("data").GetProperty("count").GetInt64() >= 1);
        await using var client = await TestClient.ConnectAsync(Agent.Port, Agent.DeviceId);
        await client.SubscribeRepliesAsync();

        await client.AskAsync("a1", "Is the spindle temp running hot?", maxTokens: 4, stream: false);
        var answer = Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("a1"))[^1]);

        var used = Assert.Single(answer.Sensors);
        Assert.Equal((SensorAgent.Spindle, 45.0, "°C"), (used.Id, used.Value, used.Unit));
        Assert.NotNull(used.Ts);
    }

    [Fact]
    public async Task The_agent_keeps_answering_while_readings_stream()
    {
        const int Readings = 3000;
        await using var sensors = await SensorClient.ConnectAsync(Agent);
        await using var client = await TestClient.ConnectAsync(Agent.Port, Agent.DeviceId);
        await client.SubscribeRepliesAsync();
        var midway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stream = Task.Run(async () =>
        {
            for (var i = 0; i < Readings; i++)
            {
                await sensors.PublishAsync("plant/flow", $$"""{"v": {{i % 50}}, "ts": "{{Base.AddMilliseconds(100_000 + i).UtcDateTime:O}}"}""");
                if (i == Readings / 10)
                {
                    midway.SetResult();
                }
            }
        });
        await midway.Task.WaitAsync(TestModels.Patience);

        for (var i = 0; i < 3; i++)
        {
            await client.AskAsync($"s{i}", "How is the flow?", maxTokens: 4, stream: false);
            var final = (await client.RepliesUntilFinalAsync($"s{i}"))[^1];
            Assert.IsType<AnswerMessage>(final);
        }

        await stream;
        var reply = await sensors.QueryUntilAsync("flow", r => r.GetProperty("data").GetProperty("count").GetInt64() == Readings);
        Assert.Equal((0.0, 49.0), (reply.GetProperty("data").GetProperty("min").GetDouble(), reply.GetProperty("data").GetProperty("max").GetDouble()));
    }
}

/// <summary>The sensor topics across a broker restart.</summary>
public sealed class SensorReconnectTests
{
    [Fact]
    public async Task Sensor_subscriptions_are_restored_after_a_broker_restart()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var agent = await AgentFixture.StartAsync(new Dictionary<string, string?>
        {
            ["Sensors:SysfsRoot"] = Path.GetTempPath(),
            ["Sensors:Discover"] = "false",
            ["Sensors:Mqtt:0:Id"] = "hall_temp",
            ["Sensors:Mqtt:0:Topic"] = "building/+/temp",
            ["Sensors:Mqtt:0:Unit"] = "°C",
        }, externalBrokerPort: broker.Port);
        await broker.KillAsync();
        await broker.RestartAsync();
        await using (var watcher = await TestClient.ConnectAsync(broker.Port, agent.DeviceId))
        {
            // The agent subscribes before it publishes its status, so a fresh ready status means the topics are back.
            await watcher.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
            await watcher.StatusAsync(s => s.State == AgentStates.Ready);
        }

        await using var client = await SensorClient.ConnectAsync(agent);
        await client.PublishAsync("building/hall/temp", "21.5");
        await client.ReadingAsync("hall_temp", 22, TimeProvider.System.GetUtcNow().AddMinutes(-5));

        var reply = await client.QueryUntilAsync("hall_temp", r => r.GetProperty("data").GetProperty("count").GetInt64() == 2);
        Assert.Equal(21.5, reply.GetProperty("data").GetProperty("latest").GetProperty("value").GetDouble());
    }
}
