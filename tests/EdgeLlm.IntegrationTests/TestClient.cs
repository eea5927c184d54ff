using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using EdgeLlm.Contracts.Mqtt;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EdgeLlm.IntegrationTests;

/// <summary>A raw MQTT client as a third-party caller would use it: it sends any bytes and records every reply.</summary>
internal sealed class TestClient : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly Channel<MqttApplicationMessage> _received = Channel.CreateUnbounded<MqttApplicationMessage>();

    private TestClient(IMqttClient client, string deviceId)
    {
        _client = client;
        DeviceId = deviceId;
        ReplyTopic = $"test/replies/{Guid.NewGuid():n}";
    }

    public string DeviceId { get; }

    public string ReplyTopic { get; }

    public static async Task<TestClient> ConnectAsync(int port, string deviceId, MqttProtocolVersion version = MqttProtocolVersion.V500, string? user = null, string? password = null)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var test = new TestClient(client, deviceId);
        client.ApplicationMessageReceivedAsync += e =>
        {
            test._received.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(version).WithClientId("test-" + Guid.NewGuid().ToString("n")[..10]);
        if (user is not null)
        {
            options.WithCredentials(user, password);
        }

        using var cts = new CancellationTokenSource(TestModels.Patience);
        var result = await client.ConnectAsync(options.Build(), cts.Token);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            client.Dispose();
            throw new ConnectRefusedException(result.ResultCode);
        }

        return test;
    }

    public async Task<MqttClientSubscribeResultCode> SubscribeAsync(string topic)
    {
        var result = await _client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce, CancellationToken.None);
        return result.Items.Single().ResultCode;
    }

    public Task<MqttClientSubscribeResultCode> SubscribeRepliesAsync() => SubscribeAsync(ReplyTopic);

    /// <summary>Publishes raw bytes on the ask topic, with the MQTT 5 response topic unless told otherwise.</summary>
    public Task PublishAskAsync(byte[] payload, bool responseTopic = true, byte[]? correlation = null, string? priority = null)
    {
        var b = new MqttApplicationMessageBuilder().WithTopic(MqttTopics.Ask(DeviceId)).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (responseTopic)
        {
            b.WithResponseTopic(ReplyTopic);
        }

        if (correlation is not null)
        {
            b.WithCorrelationData(correlation);
        }

        if (priority is not null)
        {
            b.WithUserProperty("priority", new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(priority)));
        }

        return _client.PublishAsync(b.Build(), CancellationToken.None);
    }

    public Task PublishAskAsync(string json, bool responseTopic = true, byte[]? correlation = null) => PublishAskAsync(Encoding.UTF8.GetBytes(json), responseTopic, correlation);

    public Task AskAsync(string id, string question, int maxTokens = 8, bool stream = true) =>
        PublishAskAsync(JsonSerializer.Serialize(new { id, question, max_tokens = maxTokens, stream }));

    public Task CancelAsync(string id) =>
        _client.PublishStringAsync(MqttTopics.Cancel(DeviceId), JsonSerializer.Serialize(new { id }), MqttQualityOfServiceLevel.AtLeastOnce, false, CancellationToken.None);

    /// <summary>The next message received (on any subscribed topic).</summary>
    public async Task<MqttApplicationMessage> NextAsync()
    {
        using var cts = new CancellationTokenSource(TestModels.Patience);
        return await _received.Reader.ReadAsync(cts.Token);
    }

    public async Task<ReplyMessage> NextReplyAsync()
    {
        while (true)
        {
            var m = await NextAsync();
            if (m.Topic == ReplyTopic)
            {
                return Parse(m);
            }
        }
    }

    /// <summary>Replies until the final one (answer or error) of <paramref name="id"/>; replies of other requests are returned too.</summary>
    public async Task<List<ReplyMessage>> RepliesUntilFinalAsync(string id)
    {
        var list = new List<ReplyMessage>();
        while (true)
        {
            var r = await NextReplyAsync();
            list.Add(r);
            if (r.Id == id && r is not ChunkMessage)
            {
                return list;
            }
        }
    }

    /// <summary>Waits for a status message that satisfies <paramref name="match"/>.</summary>
    public async Task<StatusMessage> StatusAsync(Func<StatusMessage, bool> match)
    {
        while (true)
        {
            var m = await NextAsync();
            if (m.Topic == MqttTopics.Status(DeviceId))
            {
                var reader = new Utf8JsonReader(m.Payload);
                var status = JsonSerializer.Deserialize(ref reader, MqttJsonContext.Default.StatusMessage)!;
                if (match(status))
                {
                    return status;
                }
            }
        }
    }

    public static ReplyMessage Parse(MqttApplicationMessage m)
    {
        var reader = new Utf8JsonReader(m.Payload);
        return JsonSerializer.Deserialize(ref reader, MqttJsonContext.Default.ReplyMessage)!;
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

/// <summary>The broker answered the CONNECT with a refusal.</summary>
internal sealed class ConnectRefusedException(MqttClientConnectResultCode code) : Exception($"the broker refused the connection: {code}")
{
    public MqttClientConnectResultCode Code { get; } = code;
}
