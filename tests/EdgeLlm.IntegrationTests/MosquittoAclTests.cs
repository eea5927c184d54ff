using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Tests;
using MQTTnet;

namespace EdgeLlm.IntegrationTests;

/// <summary>
/// One Mosquitto set up as provisioning/mosquitto/edgellm.conf does (TLS, certificate common name = user name) with the
/// shipped provisioning/mosquitto/edgellm.acl itself, and the real agent on it as <c>edgellm-agent</c>.
/// </summary>
public sealed class AclSite : IAsyncLifetime
{
    public const string Alice = "operator-alice";
    /// <summary>An operator certificate of the site CA that the ACL does not list.</summary>
    public const string Bob = "operator-bob";
    public const string Gateway = "sensor-gateway";

    /// <summary>The agent's certificate (CN edgellm-agent) is TestCertificates' client certificate.</summary>
    public const string AgentCert = "client";

    private MosquittoBroker? _broker;
    private AgentFixture? _agent;

    internal MosquittoBroker Broker => _broker!;

    internal AgentFixture Agent => _agent!;

    /// <summary>A device id no agent serves: what lands on its topics can only come from the test's clients.</summary>
    public string QuietDevice { get; } = "quiet-" + Guid.NewGuid().ToString("n")[..8];

    public async Task InitializeAsync()
    {
        _broker = await MosquittoBroker.StartWithAclAsync(Path.Combine(TestPaths.RepoRoot, "provisioning", "mosquitto", "edgellm.acl"), [Alice, Bob, Gateway]);
        var dir = _broker.Folder;
        _agent = await AgentFixture.StartAsync(new()
        {
            ["Broker:CaFile"] = Path.Combine(dir, "ca.pem"),
            ["Broker:ClientCertFile"] = Path.Combine(dir, AgentCert + ".pem"),
            ["Broker:ClientKeyFile"] = Path.Combine(dir, AgentCert + ".key"),
        }, externalBrokerPort: _broker.Port, brokerUrl: $"mqtts://localhost:{_broker.TlsPort}");
    }

    internal Task<TestClient> ConnectAsync(string certName, string clientId, string? deviceId = null) =>
        TestClient.ConnectTlsAsync(Broker.TlsPort, deviceId ?? Agent.DeviceId, Broker.Folder, certName, clientId);

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
    }
}

/// <summary>
/// What the shipped ACL allows and refuses, seen by real clients. A refused publish is answered with PUBACK 0x87 (not
/// authorized); that it was not delivered either is shown without waiting: a later, allowed message of the same
/// publisher is the first one the watching subscriber gets (Mosquitto delivers one client's messages in order).
/// </summary>
public sealed class MosquittoAclTests(AclSite site) : IClassFixture<AclSite>
{
    [Fact]
    public async Task Operator_asks_and_the_agent_answers_on_the_operators_reply_topic()
    {
        await using var alice = await site.ConnectAsync(AclSite.Alice, "alice-console");
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await alice.SubscribeRepliesAsync());
        Assert.Equal(MqttTopics.Reply(site.Agent.DeviceId, "alice-console"), alice.ReplyTopic);
        await alice.AskAsync("acl1", "What does the red lamp mean?", maxTokens: 4);
        Assert.IsType<AnswerMessage>((await alice.RepliesUntilFinalAsync("acl1"))[^1]);
    }

    [Fact]
    public async Task Operator_cannot_publish_on_the_agents_topics()
    {
        var dev = site.QuietDevice;
        await using var watcher = await site.ConnectAsync(AclSite.AgentCert, "watch-operator", dev);
        string[] agentTopics = [MqttTopics.Status(dev), MqttTopics.Events(dev), MqttTopics.Alerts(dev), MqttTopics.Reply(dev, "bob-console")];
        foreach (var topic in agentTopics.Append(MqttTopics.Ask(dev)))
        {
            Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await watcher.SubscribeAsync(topic));
        }

        await using var alice = await site.ConnectAsync(AclSite.Alice, "alice-spoofer", dev);
        foreach (var topic in agentTopics)
        {
            Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await alice.PublishAsync(topic, """{"state":"ready"}"""));
        }

        Assert.Equal(MqttClientPublishReasonCode.Success, await alice.PublishAsync(MqttTopics.Ask(dev), """{"id":"sentinel","question":"?"}"""));
        Assert.Equal(MqttTopics.Ask(dev), (await watcher.NextAsync()).Topic);
    }

    [Fact]
    public async Task Operator_cannot_read_another_clients_replies()
    {
        var dev = site.QuietDevice;
        await using var alice = await site.ConnectAsync(AclSite.Alice, "alice-reader", dev);
        await alice.SubscribeAsync(MqttTopics.Reply(dev, "bob-reader") + "/#");
        await alice.SubscribeAsync(MqttTopics.Reply(dev, "+") + "/#");
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await alice.SubscribeRepliesAsync());

        await using var agent = await site.ConnectAsync(AclSite.AgentCert, "agent-replier", dev);
        Assert.Equal(MqttClientPublishReasonCode.Success, await agent.PublishAsync(MqttTopics.Reply(dev, "bob-reader"), """{"type":"answer","id":"b","text":"for bob"}"""));
        Assert.Equal(MqttClientPublishReasonCode.Success, await agent.PublishAsync(alice.ReplyTopic, """{"type":"answer","id":"a","text":"for alice"}"""));
        var first = await alice.NextAsync();
        Assert.Equal(alice.ReplyTopic, first.Topic);
        Assert.Contains("for alice", first.ConvertPayloadToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sensor_gateway_publishes_readings_but_cannot_ask_nor_can_an_operator_the_acl_does_not_list()
    {
        var dev = site.QuietDevice;
        await using var watcher = await site.ConnectAsync(AclSite.AgentCert, "watch-gateway", dev);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await watcher.SubscribeAsync(MqttTopics.Ask(dev)));
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await watcher.SubscribeAsync(MqttTopics.AllSensors(dev)));

        await using var gateway = await site.ConnectAsync(AclSite.Gateway, "plc-gateway", dev);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await gateway.PublishAsync(MqttTopics.Ask(dev), """{"id":"g","question":"?"}""", gateway.ReplyTopic));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await gateway.PublishAsync(MqttTopics.Status(dev), """{"state":"ready"}"""));
        await using var bob = await site.ConnectAsync(AclSite.Bob, "bob-console", dev);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await bob.PublishAsync(MqttTopics.Ask(dev), """{"id":"b","question":"?"}""", bob.ReplyTopic));
        Assert.Equal(MqttClientPublishReasonCode.Success, await gateway.PublishAsync(MqttTopics.Sensor(dev, "oven-temp"), "21.5"));
        Assert.Equal(MqttTopics.Sensor(dev, "oven-temp"), (await watcher.NextAsync()).Topic);
    }
}
