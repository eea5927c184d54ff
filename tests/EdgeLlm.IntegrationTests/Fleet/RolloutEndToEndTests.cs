using System.Net.Http.Headers;
using System.Net.Http.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests.Fleet;

/// <summary>
/// Rollouts end to end on loopback: the real fleet server and real agent processes, each with a base model imported the
/// air-gapped way, updated through the bundle registry, the rollout engine, desired state, resumable download and activation.
/// </summary>
public sealed class RolloutEndToEndTests
{
    [Fact]
    public async Task A_rollout_reaches_the_canary_then_everyone_and_a_failing_bundle_halts_on_the_canary()
    {
        using var dir = TestPaths.NewTempDir();
        using var publisher = new TestPublisher(dir.Path);
        await using var server = await FleetServerProcess.StartAsync(new FleetServerStart
        {
            DataDir = Path.Combine(dir.Path, "fleet"),
            ExtraArgs = ["--Fleet:TrustedPublisherKeys:0=" + publisher.PublicKeyPath, "--Fleet:RolloutStepSeconds=1"],
        }, CancellationToken.None);
        using var admin = new FleetAdmin(server);
        var baseBundle = await publisher.ModelBundleAsync("tiny", "1.0.0");
        var good = await publisher.ModelBundleAsync("tiny", "2.0.0");
        var bad = await publisher.ModelBundleAsync("tiny", "3.0.0", TestPublisher.Failing());
        await Upload(server, good);
        await Upload(server, bad);

        await using var one = new UpdateDevice(dir.Path, "line-1", publisher.PublicKeyPath);
        await using var two = new UpdateDevice(dir.Path, "line-2", publisher.PublicKeyPath);
        UpdateDevice[] devices = [one, two];
        foreach (var device in devices)
        {
            await admin.EnrollAsync(device.Id, device.DataDir);
            await device.ImportAsync(baseBundle);
            await device.StartAsync();
            Assert.Equal("1.0.0", (await device.AskAsync()).Model.Version);
        }

        // Half the fleet first (one device), soaking 2 s, then everyone.
        var rollout = await CreateRolloutAsync(admin, "2.0.0", soakSeconds: 2);
        var canary = Assert.Single(rollout.Devices, d => d.Stage == 0).DeviceId;
        var rest = devices.Single(d => d.Id != canary);
        var atCanary = await FleetAdmin.UntilAsync(() => admin.DeviceAsync(canary), d => d.Reported?.Model?.Version == "2.0.0", "the canary on 2.0.0");
        Assert.Equal("1.0.0", (await admin.DeviceAsync(rest.Id)).Reported?.Model?.Version);
        Assert.NotNull(atCanary);
        rollout = await UntilRolloutAsync(admin, rollout.Id, r => r.State == RolloutStates.Completed, "the rollout to complete");
        foreach (var device in devices)
        {
            Assert.Equal(("tiny", "2.0.0"), await device.ActiveSlotAsync());
            Assert.Equal("2.0.0", (await device.AskAsync("after")).Model.Version);
        }

        // 3.0.0 fails its smoke test on the canary: rolled back there, the rollout halts, the rest is never touched.
        rollout = await CreateRolloutAsync(admin, "3.0.0", soakSeconds: 2);
        canary = Assert.Single(rollout.Devices, d => d.Stage == 0).DeviceId;
        rest = devices.Single(d => d.Id != canary);
        rollout = await UntilRolloutAsync(admin, rollout.Id, r => r.State != RolloutStates.Running, "the rollout to halt");
        Assert.Equal(RolloutStates.Halted, rollout.State);
        Assert.Contains("never generated", rollout.Devices.Single(d => d.DeviceId == canary).Detail, StringComparison.Ordinal);
        Assert.Equal("2.0.0", (await admin.DeviceAsync(rest.Id)).Desired.Model!.Version);
        foreach (var device in devices)
        {
            Assert.Equal(("tiny", "2.0.0"), await device.ActiveSlotAsync());
            Assert.Equal("2.0.0", (await device.AskAsync("still")).Model.Version);
        }

        var canaryStates = (await admin.TelemetryAsync(canary)).Where(i => i.Name == "update_state").Select(i => i.Data!.Value.GetProperty("state").GetString()!).ToList();
        Assert.Contains(canaryStates, s => s.StartsWith("smoke_test_failed", StringComparison.Ordinal));
        Assert.DoesNotContain((await admin.TelemetryAsync(rest.Id)).Where(i => i.Name == "update_state"), i => i.Data!.Value.GetProperty("version").GetString() == "3.0.0");

        // The same bundle on a device that never had a link: imported from the file, the same model, byte for byte.
        await using var airGapped = new UpdateDevice(dir.Path, "air-1", publisher.PublicKeyPath);
        await airGapped.ImportAsync(baseBundle);
        await airGapped.ImportAsync(good);
        Assert.Equal(("tiny", "2.0.0"), await airGapped.ActiveSlotAsync());
        Assert.Equal(SlotDigest(one.DataDir, "tiny", "2.0.0"), SlotDigest(airGapped.DataDir, "tiny", "2.0.0"));
        await airGapped.StartAsync();
        var answer = await airGapped.AskAsync();
        Assert.Equal(("tiny", "2.0.0"), (answer.Model.Id, answer.Model.Version));
    }

    /// <summary>Every file of a slot with its SHA-256, by relative path.</summary>
    internal static List<string> SlotDigest(string dataDir, string name, string version)
    {
        var slot = Path.Combine(dataDir, "models", name, version);
        return [.. Directory.EnumerateFiles(slot, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(slot, f) + " " + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))))
            .Order(StringComparer.Ordinal)];
    }

    private static async Task Upload(FleetServerProcess server, string path)
    {
        using var http = Http(server);
        await using var body = File.OpenRead(path);
        using var content = new StreamContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await http.PostAsync(BundleRoutes.Bundles, content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task<RolloutInfo> CreateRolloutAsync(FleetAdmin admin, string version, long soakSeconds)
    {
        using var http = Http(admin.Server);
        var request = new CreateRolloutRequest { Bundle = "tiny", Version = version, Target = new RolloutTarget { All = true }, Stages = [50, 100], SoakSeconds = soakSeconds, MaxFailureRate = 0.2 };
        using var response = await http.PostAsJsonAsync(RolloutRoutes.Rollouts, request, FleetJsonContext.Default.CreateRolloutRequest);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.RolloutInfo))!;
    }

    private static async Task<RolloutInfo> UntilRolloutAsync(FleetAdmin admin, string id, Func<RolloutInfo, bool> done, string what)
    {
        using var http = Http(admin.Server);
        return await FleetAdmin.UntilAsync(async () => (await http.GetFromJsonAsync(RolloutRoutes.Rollout(id), FleetJsonContext.Default.RolloutInfo))!, done, what);
    }

    private static HttpClient Http(FleetServerProcess server)
    {
        var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.AdminKey);
        return http;
    }
}
