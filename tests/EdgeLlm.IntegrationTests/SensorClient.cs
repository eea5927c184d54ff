using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using EdgeLlm.Contracts.Mqtt;
using MQTTnet;
using MQTTnet.Protocol;

namespace EdgeLlm.IntegrationTests;

/// <summary>An MQTT client that publishes readings and sensor queries anywhere and records what it receives.</summary>
internal sealed class SensorClient : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly Channel<MqttApplicationMessage> _received = Channel.CreateUnbounded<MqttApplicationMessage>();

    private SensorClient(string deviceId) => DeviceId = deviceId;

    public string DeviceId { get; }

    public string ReplyTopic { get; } = $"test/sensor-replies/{Guid.NewGuid():n}";

    public static async Task<SensorClient> ConnectAsync(AgentFixture agent, params string[] topics)
    {
        var c = new SensorClient(agent.DeviceId);
        c._client.ApplicationMessageReceivedAsync += e =>
        {
            c._received.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        using var cts = new CancellationTokenSource(TestModels.Patience);
        await c._client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", agent.Port).WithClientId("sensors-" + Guid.NewGuid().ToString("n")[..10]).Build(), cts.Token);
        foreach (var t in topics.Append(c.ReplyTopic))
        {
            await c._client.SubscribeAsync(t, MqttQualityOfServiceLevel.AtLeastOnce, cts.Token);
        }

        return c;
    }

    public Task PublishAsync(string topic, string payload, string? responseTopic = null, byte[]? correlation = null)
    {
        var b = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(Encoding.UTF8.GetBytes(payload)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (responseTopic is not null)
        {
            b.WithResponseTopic(responseTopic);
        }

        if (correlation is not null)
        {
            b.WithCorrelationData(correlation);
        }

        return _client.PublishAsync(b.Build(), CancellationToken.None);
    }

    /// <summary>A reading on the device's own <c>sensors/{id}</c> topic, stamped <paramref name="ts"/>.</summary>
    public Task ReadingAsync(string sensorId, double value, DateTimeOffset ts) =>
        PublishAsync(MqttTopics.Sensor(DeviceId, sensorId), JsonSerializer.Serialize(
            new SensorReadingMessage { Value = value, Ts = ts.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) }, MqttJsonContext.Default.SensorReadingMessage));

    /// <summary>The next message on <paramref name="topic"/> (others are dropped).</summary>
    public async Task<MqttApplicationMessage> NextAsync(string topic)
    {
        using var cts = new CancellationTokenSource(TestModels.Patience);
        while (true)
        {
            var m = await _received.Reader.ReadAsync(cts.Token);
            if (m.Topic == topic)
            {
                return m;
            }
        }
    }

    public static JsonElement Json(MqttApplicationMessage m) => JsonDocument.Parse(m.Payload).RootElement.Clone();

    /// <summary>Sends a sensor query (reply on the MQTT 5 response topic) and returns the reply.</summary>
    public async Task<JsonElement> QueryAsync(string sensor, string window = "1h")
    {
        var id = Guid.NewGuid().ToString("n");
        await PublishAsync(MqttTopics.SensorQuery(DeviceId), JsonSerializer.Serialize(new { id, sensor, window }), ReplyTopic);
        while (true)
        {
            var reply = Json(await NextAsync(ReplyTopic));
            if (reply.GetProperty("id").GetString() == id)
            {
                return reply;
            }
        }
    }

    /// <summary>Asks again after each reply until the stored data satisfies <paramref name="done"/> (the store writes in batches).</summary>
    public async Task<JsonElement> QueryUntilAsync(string sensor, Func<JsonElement, bool> done)
    {
        using var cts = new CancellationTokenSource(TestModels.Patience);
        while (true)
        {
            cts.Token.ThrowIfCancellationRequested();
            var reply = await QueryAsync(sensor);
            if (done(reply))
            {
                return reply;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
        }

        _client.Dispose();
    }
}
