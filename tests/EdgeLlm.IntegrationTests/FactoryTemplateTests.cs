using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests;

/// <summary>
/// `edgellm agent --config provisioning/config/factory-airgapped.json` (the real executable) with only the template's
/// paths moved to a scratch folder, on a real Mosquitto TLS listener with a client certificate, as on an air-gapped site.
/// </summary>
public sealed class FactoryTemplateTests
{
    [Fact]
    public async Task Factory_agent_refuses_to_start_without_its_publisher_key_and_starts_with_it()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        using var dir = TestPaths.NewTempDir();
        var key = Path.Combine(dir.Path, "keys", "publisher.pub");
        var device = "factory-" + Guid.NewGuid().ToString("n")[..6];
        var metricsPort = TestModels.FreePort();

        await using (var refused = StartFactoryAgent(broker, dir.Path, device, key, metricsPort))
        {
            Assert.NotEqual(0, await refused.WaitForExitAsync());
            var line = Assert.Single(refused.Stderr.Split('\n'), l => l.StartsWith("edgellm:", StringComparison.Ordinal));
            Assert.Contains($"Updates:TrustedKeys: {key} does not exist", line, StringComparison.Ordinal);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(key)!);
        using (var publisher = BundleSigningKey.Generate())
        {
            await File.WriteAllTextAsync(key, publisher.ExportPublicKeyPem());
        }

        await using var agent = StartFactoryAgent(broker, dir.Path, device, key, metricsPort);
        Assert.Equal("READY=1", await agent.NextNotificationAsync());
        await using var watcher = await TestClient.ConnectAsync(broker.Port, device);
        await watcher.SubscribeAsync(MqttTopics.Status(device));
        Assert.Equal(AgentStates.RetrievalOnly, (await watcher.StatusAsync(_ => true)).State);

        // The template turns the loopback metrics endpoint on for the plant's monitoring.
        using var http = new HttpClient { Timeout = TestModels.Patience };
        var metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
        Assert.Contains("edgellm_model_loads_total{outcome=\"retrieval_only\"} 1\n", metrics, StringComparison.Ordinal);
    }

    /// <summary>The template as shipped; its TLS files, data directory, import folder and publisher key under <paramref name="root"/>, its metrics on <paramref name="metricsPort"/>.</summary>
    private static AgentProcess StartFactoryAgent(MosquittoBroker broker, string root, string device, string publisherKey, int metricsPort)
    {
        var usb = Directory.CreateDirectory(Path.Combine(root, "usb")).FullName;
        var data = Directory.CreateDirectory(Path.Combine(root, "data")).FullName;
        var sysfs = Directory.CreateDirectory(Path.Combine(root, "sys")).FullName;
        var template = Path.Combine(TestPaths.RepoRoot, "provisioning", "config", "factory-airgapped.json");
        return AgentProcess.Start(
            ["--config", template, "--data-dir", data, "--model", "none", "--device-id", device, "--sysfs-root", sysfs,
             "--broker", $"mqtts://localhost:{broker.TlsPort}"],
            new()
            {
                ["EDGELLM__BROKER__CAFILE"] = Path.Combine(broker.Folder, "ca.pem"),
                ["EDGELLM__BROKER__CLIENTCERTFILE"] = Path.Combine(broker.Folder, "client.pem"),
                ["EDGELLM__BROKER__CLIENTKEYFILE"] = Path.Combine(broker.Folder, "client.key"),
                ["EDGELLM__UPDATES__IMPORTFOLDER"] = usb,
                ["EDGELLM__UPDATES__TRUSTEDKEYS__0"] = publisherKey,
                ["EDGELLM__METRICS__LISTEN"] = $"127.0.0.1:{metricsPort}",
            });
    }
}
