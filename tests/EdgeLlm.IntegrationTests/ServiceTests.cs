using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests;

/// <summary>`edgellm agent` as systemd runs it: notify socket, watchdog, SIGTERM, configuration errors, crash.</summary>
public sealed class ServiceTests
{
    [Fact]
    public async Task Agent_notifies_ready_after_the_broker_is_up_pings_the_watchdog_and_stops_on_sigterm()
    {
        using var data = TestPaths.NewTempDir();
        var port = TestModels.FreePort();
        var device = "svc-" + Guid.NewGuid().ToString("n")[..6];
        await using var agent = AgentProcess.Start(
            ["--data-dir", data.Path, "--model", TestModels.Tiny, "--broker-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--device-id", device],
            new() { ["WATCHDOG_USEC"] = "400000" });

        Assert.Equal("READY=1", await agent.NextNotificationAsync());

        // READY=1 means the broker is up and the status is already retained.
        await using (var client = await TestClient.ConnectAsync(port, device))
        {
            await client.SubscribeAsync(MqttTopics.Status(device));
            Assert.Equal(AgentStates.Ready, (await client.StatusAsync(_ => true)).State);
        }

        Assert.Equal("WATCHDOG=1", await agent.NextNotificationAsync());
        Assert.Equal("WATCHDOG=1", await agent.NextNotificationAsync());

        await agent.TerminateAsync();
        string? note;
        do
        {
            note = await agent.NextNotificationAsync();
        }
        while (note == "WATCHDOG=1");

        Assert.Equal("STOPPING=1", note);
        Assert.Equal(0, await agent.WaitForExitAsync());
        Assert.True(File.Exists(Path.Combine(data.Path, "agent.db")));
    }

    public static TheoryData<string[], Dictionary<string, string>, string> BadConfigurations => new()
    {
        { [], new() { ["EDGELLM__AGENT__MAXPAYLOADBYTES"] = "5" }, "Agent:MaxPayloadBytes" },
        { [], new() { ["EDGELLM__AGENT__REQUESTTIMEOUTSECONDS"] = "0" }, "Agent:RequestTimeoutSeconds" },
        { ["--device-id", "a/b"], new(), "Agent:DeviceId" },
        { [], new() { ["EDGELLM__BROKER__MODE"] = "external" }, "Broker:Host" },
        { [], new() { ["EDGELLM__BROKER__MODE"] = "carrier-pigeon" }, "Broker:Mode" },
        { ["--broker", "http://example"], new(), "--broker" },
        { ["--config", "/nonexistent/agent.json"], new(), "--config" },
        { ["--model", "/nonexistent/model"], new(), "/nonexistent/model" },
        { [], new() { ["EDGELLM__UPDATES__TRUSTEDKEYS__0"] = "/nonexistent/publisher.pub" }, "Updates:TrustedKeys: /nonexistent/publisher.pub does not exist" },
        { [], new() { ["EDGELLM__UPDATES__CHECKINTERVALSECONDS"] = "0" }, "Updates:CheckIntervalSeconds" },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public async Task Bad_configuration_stops_the_agent_before_ready_with_one_line_naming_the_key(string[] args, Dictionary<string, string> env, string key)
    {
        using var data = TestPaths.NewTempDir();
        var port = TestModels.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var all = new List<string> { "--data-dir", data.Path, "--broker-port", port };
        if (!args.Contains("--model"))
        {
            all.AddRange(["--model", "none"]);
        }

        all.AddRange(args);
        await using var agent = AgentProcess.Start(all, env);

        Assert.NotEqual(0, await agent.WaitForExitAsync());
        var lines = agent.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines, l => l.StartsWith("edgellm:", StringComparison.Ordinal));
        Assert.Contains(key, line, StringComparison.Ordinal);
        Assert.Null(await agent.NextNotificationAsync(TimeSpan.FromMilliseconds(1)));
    }

    [Fact]
    public async Task Config_file_values_are_used_and_switches_override_them()
    {
        using var data = TestPaths.NewTempDir();
        var port = TestModels.FreePort();
        var config = Path.Combine(data.Path, "agent.json");
        await File.WriteAllTextAsync(config, $$"""{"Agent": {"DeviceId": "from-file", "Model": "none"}, "Broker": {"Port": {{port}} } }""");
        await using var agent = AgentProcess.Start(["--config", config, "--data-dir", data.Path, "--device-id", "from-switch"]);
        Assert.Equal("READY=1", await agent.NextNotificationAsync());

        await using var client = await TestClient.ConnectAsync(port, "from-switch");
        await client.SubscribeAsync(MqttTopics.Status("from-switch"));
        Assert.Equal(AgentStates.RetrievalOnly, (await client.StatusAsync(_ => true)).State);
    }

    [Fact]
    public async Task Crashed_agent_leaves_its_last_will_offline_on_mosquitto()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        using var data = TestPaths.NewTempDir();
        var device = "lwt-" + Guid.NewGuid().ToString("n")[..6];
        await using var agent = AgentProcess.Start(["--data-dir", data.Path, "--model", "none", "--device-id", device,
            "--broker", $"mqtt://127.0.0.1:{broker.Port}"]);
        Assert.Equal("READY=1", await agent.NextNotificationAsync());
        await using var watcher = await TestClient.ConnectAsync(broker.Port, device);
        await watcher.SubscribeAsync(MqttTopics.Status(device));
        await watcher.StatusAsync(s => s.State == AgentStates.RetrievalOnly);

        agent.Kill();
        Assert.Equal(AgentStates.Offline, (await watcher.StatusAsync(s => s.State == AgentStates.Offline)).State);
    }
}
