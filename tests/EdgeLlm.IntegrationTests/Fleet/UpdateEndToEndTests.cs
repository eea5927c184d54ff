using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.IntegrationTests.Fleet;

/// <summary>Reports the model the device's <see cref="ActiveModel"/> serves now.</summary>
internal sealed class ServingProbe(ActiveModel active) : IDeviceProbe
{
    public StatusMessage Status() => new() { State = AgentStates.Ready, Model = active.Ref, QueueDepth = 0, Version = "test", Since = "t" };

    public string? UnavailableReason => null;

    public IReadOnlyList<(string Sensor, double Celsius)> Temperatures() => [];

    public long? MemoryAvailableBytes() => 8L << 30;

    public long ProcessWorkingSetBytes() => 64L << 20;

    public long? DiskFreeBytes() => 8L << 30;
}

/// <summary>A model update from the real fleet server to the device's real update path over loopback HTTP.</summary>
public sealed class UpdateEndToEndTests
{
    [Fact]
    public async Task An_uploaded_bundle_named_in_the_desired_state_is_downloaded_activated_and_reported()
    {
        using var dir = TestPaths.NewTempDir();
        using var key = BundleSigningKey.Generate();
        var pub = Path.Combine(dir.Path, "publisher.pub");
        await File.WriteAllTextAsync(pub, key.ExportPublicKeyPem());
        await using var server = await FleetServerProcess.StartAsync(new FleetServerStart
        {
            DataDir = Path.Combine(dir.Path, "fleet"),
            ExtraArgs = ["--Fleet:TrustedPublisherKeys:0=" + pub],
        }, CancellationToken.None);
        using var admin = new FleetAdmin(server);
        var dataDir = Path.Combine(dir.Path, "device");
        Directory.CreateDirectory(dataDir);
        const string deviceId = "dev-update";
        await admin.EnrollAsync(deviceId, dataDir);

        var model = Path.Combine(dir.Path, "model");
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", model, 5));
        var bundlePath = Path.Combine(dir.Path, "tiny-2.0.0.edgebundle");
        var file = File.Create(bundlePath);
        await using (file)
        {
            var create = new BundleCreateOptions
            {
                Kind = BundleKind.Model,
                Name = "tiny",
                Version = "2.0.0",
                SmokeTest = new BundleSmokeTest { Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 4 }], TimeoutSeconds = 60 },
            };
            await BundleWriter.CreateAsync(create, model, key, file, TimeProvider.System, CancellationToken.None);
        }

        var uploaded = await UploadAsync(server, bundlePath);
        await admin.SetDesiredAsync(deviceId, new DesiredStateUpdate { Model = new ArtifactRef { Name = "tiny", Version = "2.0.0", Sha256 = uploaded.Sha256 } });

        var agent = Options.Create(new AgentOptions { DataDir = dataDir, AllowSynthesizedModel = true, MaxTokens = 16 });
        var fleet = Options.Create(new FleetOptions());
        var time = TimeProvider.System;
        using var outbox = new Outbox(Path.Combine(dataDir, "agent.db"), fleet.Value.OutboxMaxBytes, time);
        using var link = new FleetLink(FleetCredentials.PathIn(dataDir), TimeSpan.FromSeconds(10), NullLogger<FleetLink>.Instance);
        using var active = new ActiveModel(agent, NullLogger<ActiveModel>.Instance) { RetireGrace = TimeSpan.Zero };
        var events = new ActivationEventLog();
        using var activator = new ModelActivator(active, new AgentModelLoader(agent, NullLogger<AgentModelLoader>.Instance), events, agent,
            Options.Create(new ModelUpdateOptions()), time, NullLogger<ModelActivator>.Instance);
        var policy = new QueryLogPolicy(agent, fleet);
        using var sync = new DesiredStateSync(outbox, link, policy, new RequestTelemetry(outbox, policy, fleet, time), new ServingProbe(active), fleet, time,
            NullLogger<DesiredStateSync>.Instance);
        var reporter = new UpdateStateReporter(events, outbox, null, deviceId, NullLogger<UpdateStateReporter>.Instance);
        sync.Updates = reporter;
        var downloader = new Downloader(link, Options.Create(new UpdateOptions()), time, NullLogger<Downloader>.Instance, new DownloadProgressEvents(events, sync, time));
        var updates = new UpdateCoordinatorOptions();
        updates.TrustedKeys.Add(pub);
        using var coordinator = new UpdateCoordinator(sync, new FleetBundleFetcher(link, downloader, agent), activator, events, outbox, () => new DeviceResources(null, null, null),
            updates, dataDir, time, NullLogger<UpdateCoordinator>.Instance);
        using var uploader = new FleetUploader(outbox, link, fleet, time, NullLogger<FleetUploader>.Instance, new Random(1));

        await sync.StepAsync(CancellationToken.None);
        var result = Assert.Single(await coordinator.StepAsync(CancellationToken.None));
        await sync.StepAsync(CancellationToken.None);
        await uploader.StepAsync(CancellationToken.None);

        Assert.True(result.Activated, result.Text);
        Assert.Equal(new ModelRef { Id = "tiny", Version = "2.0.0", Synthesized = true }, active.Ref);
        Assert.Equal(uploaded.Size, downloader.BytesReceived);
        var reported = (await admin.DeviceAsync(deviceId)).Reported!;
        Assert.Equal(("tiny", "2.0.0"), (reported.Model!.Name, reported.Model.Version));
        Assert.Equal("ready", reported.State);
        var states = (await admin.TelemetryAsync(deviceId)).Where(i => i.Name == UpdateStateReporter.EventName).Select(i => i.Data!.Value.GetProperty("state").GetString()).ToList();
        Assert.Contains("downloading 100%", states);
        Assert.Equal(["verifying", "unpacking", "loading", "smoke_test", "active"], states.SkipWhile(s => s!.StartsWith("downloading", StringComparison.Ordinal)));
    }

    private static async Task<BundleInfo> UploadAsync(FleetServerProcess server, string path)
    {
        using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.AdminKey);
        await using var body = File.OpenRead(path);
        using var content = new StreamContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await http.PostAsync(BundleRoutes.Bundles, content);
        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.BundleInfo))!;
    }
}
