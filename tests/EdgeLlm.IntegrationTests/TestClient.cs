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

    private TestClient(IMqttClient client, string deviceId, string? replyTopic = null)
    {
        _client = client;
        DeviceId = deviceId;
        ReplyTopic = replyTopic ?? $"test/replies/{Guid.NewGuid():n}";
    }

    public string DeviceId { get; }

    public string ReplyTopic { get; }

    public static Task<TestClient> ConnectAsync(int port, string deviceId, MqttProtocolVersion version = MqttProtocolVersion.V500, string? user = null, string? password = null)
    {
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(version).WithClientId("test-" + Guid.NewGuid().ToString("n")[..10]);
        if (user is not null)
        {
            options.WithCredentials(user, password);
        }

        return ConnectAsync(options, deviceId, null);
    }

    /// <summary>
    /// Connects over TLS with the client certificate <c>{certName}.pem</c>/<c>.key</c> of <paramref name="certFolder"/>
    /// (MQTT 5, client id <paramref name="clientId"/>); its reply topic is the one <c>edgellm ask</c> uses,
    /// <c>edgellm/v1/{deviceId}/reply/{clientId}</c>.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The certificates live as long as the test's client.")]
    public static Task<TestClient> ConnectTlsAsync(int tlsPort, string deviceId, string certFolder, string certName, string clientId)
    {
        var chain = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        chain.ImportFromPemFile(Path.Combine(certFolder, "ca.pem"));
        var cert = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(
            Path.Combine(certFolder, certName + ".pem"), Path.Combine(certFolder, certName + ".key"));
        var tls = new MqttClientTlsOptionsBuilder().UseTls().WithTargetHost("localhost").WithTrustChain(chain).WithClientCertificates([cert]).Build();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", tlsPort).WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(clientId).WithTlsOptions(tls);
        return ConnectAsync(options, deviceId, MqttTopics.Reply(deviceId, clientId));
    }

    private static async Task<TestClient> ConnectAsync(MqttClientOptionsBuilder options, string deviceId, string? replyTopic)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var test = new TestClient(client, deviceId, replyTopic);
        client.ApplicationMessageReceivedAsync += e =>
        {
            test._received.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        using var cts = new CancellationTokenSource(TestModels.Patience);
        var result = await client.ConnectAsync(options.Build(), cts.Token);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            client.Dispose();
            throw new ConnectRefusedException(result.ResultCode);
        }

        return test;
    }

    /// <summary>Publishes <paramref name="payload"/> at QoS 1 and returns the broker's PUBACK reason code.</summary>
    public async Task<MqttClientPublishReasonCode> PublishAsync(string topic, string payload, string? responseTopic = null)
    {
        var b = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (responseTopic is not null)
        {
            b.WithResponseTopic(responseTopic);
        }

        var result = await _client.PublishAsync(b.Build(), CancellationToken.None);
        return result.ReasonCode;
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
