using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Contracts.Mqtt;
using MQTTnet.Formatter;

namespace EdgeLlm.IntegrationTests;

/// <summary>The agent against a real, external Mosquitto 2 broker.</summary>
public sealed class MosquittoTests
{
    [Fact]
    public async Task Ask_over_mosquitto_streams_chunks_and_one_answer()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var agent = await AgentFixture.StartAsync(externalBrokerPort: broker.Port);
        await using var client = await TestClient.ConnectAsync(broker.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.AskAsync("m1", "What does the red lamp mean?", maxTokens: 12);

        var replies = await client.RepliesUntilFinalAsync("m1");
        var chunks = replies.OfType<ChunkMessage>().ToList();
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Seq));
        Assert.Equal(string.Concat(chunks.Select(c => c.Text)), Assert.IsType<AnswerMessage>(replies[^1]).Text);
    }

    [Fact]
    public async Task Mqtt311_client_over_mosquitto_uses_reply_to()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var agent = await AgentFixture.StartAsync(externalBrokerPort: broker.Port);
        await using var client = await TestClient.ConnectAsync(broker.Port, agent.DeviceId, MqttProtocolVersion.V311);
        await client.SubscribeRepliesAsync();
        await client.PublishAskAsync($$"""{"id":"o1","question":"Hi","max_tokens":4,"reply_to":"{{client.ReplyTopic}}","correlation_id":"x"}""", responseTopic: false);
        var replies = await client.RepliesUntilFinalAsync("o1");
        Assert.IsType<AnswerMessage>(replies[^1]);
        Assert.All(replies, r => Assert.Equal("x", r.CorrelationId));
    }

    [Fact]
    public async Task Broker_restart_is_survived_with_resubscription_and_the_status_published_again()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var agent = await AgentFixture.StartAsync(externalBrokerPort: broker.Port);
        await using (var before = await TestClient.ConnectAsync(broker.Port, agent.DeviceId))
        {
            await before.SubscribeRepliesAsync();
            await before.AskAsync("before", "First question", maxTokens: 4);
            Assert.IsType<AnswerMessage>((await before.RepliesUntilFinalAsync("before"))[^1]);
        }

        var connection = agent.Get<MqttConnection>();
        Assert.Equal(1, connection.Connections);
        await broker.KillAsync();
        await broker.RestartAsync();

        // Mosquitto runs without persistence: only the agent can have put the retained status there again.
        await using var after = await TestClient.ConnectAsync(broker.Port, agent.DeviceId);
        await after.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
        var status = await after.StatusAsync(s => s.State == AgentStates.Ready);
        Assert.Equal("tiny-qwen2", status.Model!.Id);
        Assert.True(connection.Connections >= 2);

        await after.SubscribeRepliesAsync();
        await after.AskAsync("after", "Second question", maxTokens: 4);
        Assert.IsType<AnswerMessage>((await after.RepliesUntilFinalAsync("after"))[^1]);
    }

    [Fact]
    public async Task Stopped_agent_publishes_offline_status()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var agent = await AgentFixture.StartAsync(externalBrokerPort: broker.Port);
        await using var watcher = await TestClient.ConnectAsync(broker.Port, agent.DeviceId);
        await watcher.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
        await watcher.StatusAsync(s => s.State == AgentStates.Ready);

        await agent.DisposeAsync();
        var offline = await watcher.StatusAsync(s => s.State == AgentStates.Offline);
        Assert.Null(offline.Model);
    }
}

/// <summary>The agent on Mosquitto's TLS listener with a private CA and a client certificate.</summary>
public sealed class MosquittoTlsTests
{
    [Fact]
    public async Task Agent_connects_over_tls_with_ca_and_client_certificate()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        var dir = broker.Folder;
        await using var agent = await AgentFixture.StartAsync(new()
        {
            ["Broker:CaFile"] = Path.Combine(dir, "ca.pem"),
            ["Broker:ClientCertFile"] = Path.Combine(dir, "client.pem"),
            ["Broker:ClientKeyFile"] = Path.Combine(dir, "client.key"),
        }, externalBrokerPort: broker.Port, brokerUrl: $"mqtts://localhost:{broker.TlsPort}");

        // The test client uses the plain listener of the same broker.
        await using var client = await TestClient.ConnectAsync(broker.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.AskAsync("tls1", "Over TLS?", maxTokens: 4);
        Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("tls1"))[^1]);
    }
}
