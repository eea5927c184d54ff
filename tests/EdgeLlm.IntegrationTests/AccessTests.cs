using EdgeLlm.Agent.Models;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Scheduling;

namespace EdgeLlm.IntegrationTests;

/// <summary>Embedded broker users and topic permissions; stopping with answers in flight.</summary>
public sealed class AccessTests
{
    private static Dictionary<string, string?> Users(string device) => new()
    {
        ["Broker:Users:0:Username"] = "operator",
        ["Broker:Users:0:Password"] = "op-secret",
        ["Broker:Users:0:Publish:0"] = $"edgellm/v1/{device}/ask",
        ["Broker:Users:0:Subscribe:0"] = "test/replies/#",
        ["Broker:Users:1:Username"] = "viewer",
        ["Broker:Users:1:Password"] = "view-secret",
        ["Broker:Users:1:Subscribe:0"] = "edgellm/v1/+/status",
    };

    [Fact]
    public async Task Embedded_broker_users_can_only_use_their_topics()
    {
        var device = "acl-" + Guid.NewGuid().ToString("n")[..6];
        await using var agent = await AgentFixture.StartAsync(Users(device), deviceIdOverride: device);

        var wrong = await Assert.ThrowsAsync<ConnectRefusedException>(() => TestClient.ConnectAsync(agent.Port, device, user: "operator", password: "wrong"));
        Assert.Equal(MQTTnet.MqttClientConnectResultCode.BadUserNameOrPassword, wrong.Code);
        await Assert.ThrowsAsync<ConnectRefusedException>(() => TestClient.ConnectAsync(agent.Port, device));

        await using var viewer = await TestClient.ConnectAsync(agent.Port, device, user: "viewer", password: "view-secret");
        Assert.Equal(MQTTnet.MqttClientSubscribeResultCode.NotAuthorized, await viewer.SubscribeRepliesAsync());
        Assert.Equal(MQTTnet.MqttClientSubscribeResultCode.GrantedQoS1, await viewer.SubscribeAsync(MqttTopics.Status(device)));
        Assert.Equal(AgentStates.Ready, (await viewer.StatusAsync(_ => true)).State);

        await using var op = await TestClient.ConnectAsync(agent.Port, device, user: "operator", password: "op-secret");
        Assert.Equal(MQTTnet.MqttClientSubscribeResultCode.NotAuthorized, await op.SubscribeAsync(MqttTopics.Status(device)));
        await op.SubscribeRepliesAsync();
        await op.AskAsync("acl1", "Allowed?", maxTokens: 4);
        Assert.IsType<AnswerMessage>((await op.RepliesUntilFinalAsync("acl1"))[^1]);
    }

    [Fact]
    public async Task Requests_of_a_client_that_disconnects_are_cancelled()
    {
        await using var agent = await AgentFixture.StartAsync();
        var scheduler = agent.Get<ActiveModel>().Model!.Scheduler;
        await using var watcher = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await watcher.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
        using (await scheduler.EnterAsync(RequestPriority.Operator))
        {
            var asker = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
            await asker.AskAsync("gone", "Will anyone read this?", maxTokens: 64);
            await watcher.StatusAsync(s => s.QueueDepth == 1);
            await asker.DisposeAsync();

            // Only a cancellation takes a waiter out of the queue while the model is held.
            await watcher.StatusAsync(s => s.QueueDepth == 0);
        }
    }

    [Fact]
    public async Task Stopping_cancels_answers_that_outlast_the_grace_period()
    {
        var agent = await AgentFixture.StartAsync(new() { ["Agent:ShutdownGraceSeconds"] = "0" });
        var scheduler = agent.Get<ActiveModel>().Model!.Scheduler;
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
        Task stopping;
        using (await scheduler.EnterAsync(RequestPriority.Operator))
        {
            await client.AskAsync("late", "Will you finish?", maxTokens: 4);
            await client.StatusAsync(s => s.QueueDepth == 1);
            stopping = agent.DisposeAsync().AsTask();
            var error = Assert.IsType<ErrorMessage>(await client.NextReplyAsync());
            Assert.Equal(ErrorCodes.Cancelled, error.Code);
            Assert.Contains("stopping", error.Message, StringComparison.Ordinal);
        }

        await stopping;
        Assert.Equal(AgentStates.Offline, (await client.StatusAsync(s => s.State == AgentStates.Offline)).State);
    }
}
