using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests.Fleet;

/// <summary>The device side against the real `edgellm-fleet` over loopback HTTP (SQLite store; PostgreSQL where named).</summary>
[Collection("postgres")]
public sealed class DeviceSyncTests(PostgresFixture postgres)
{
    private const string Secret = "CONFIDENTIAL-4b1d";

    private async Task<FleetServerProcess> StartServerAsync(TempDir dir, bool onPostgres = false) =>
        await FleetServerProcess.StartAsync(new FleetServerStart
        {
            DataDir = onPostgres ? null : Path.Combine(dir.Path, "fleet"),
            Postgres = onPostgres ? await postgres.Cluster.CreateDatabaseAsync("sync_" + Guid.NewGuid().ToString("N")[..16], CancellationToken.None) : null,
            // Catching up is many batches at once; the rate limit has its own tests.
            ExtraArgs = ["--Fleet:TelemetryBatchesPerMinute=60000", "--Fleet:TelemetryBurst=10000"],
        }, CancellationToken.None);

    private static Task<(int Exit, string Stdout, string Stderr)> EdgellmAsync(params string[] args) => DeviceCli.RunAsync(args);

    /// <summary>Nothing lost, nothing twice: the server holds each seq from 1 to its last exactly once.</summary>
    private static void AssertContiguous(IReadOnlyList<TelemetryItem> stored, long lastSeq)
    {
        Assert.Equal(Enumerable.Range(1, (int)lastSeq).Select(i => (long)i), stored.Select(i => i.Seq));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Enroll_stores_the_credential_and_the_running_agent_uploads_without_ever_sending_a_question()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await StartServerAsync(dir);
        using var admin = new FleetAdmin(server);
        await using var agent = await AgentFixture.StartAsync(new Dictionary<string, string?>
        {
            ["Fleet:UploadIntervalSeconds"] = "1",
            ["Fleet:SampleIntervalSeconds"] = "1",
            ["Fleet:PollIntervalSeconds"] = "1",
        }, model: AgentOptions.NoModel);
        var token = await admin.CreateTokenAsync();

        var (exit, stdout, stderr) = await EdgellmAsync("enroll", "--server", admin.Url, "--token", token, "--device-id", agent.DeviceId, "--data-dir", agent.DataDir, "--json");
        Assert.True(exit == 0, stderr);
        var printed = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(agent.DeviceId, printed.GetProperty("device_id").GetString());
        Assert.True(printed.GetProperty("hardware").GetProperty("cpu_count").GetInt32() > 0);
        var file = FleetCredentials.PathIn(agent.DataDir);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.StartsWith("edc_", FleetCredentials.Read(file)!.Credential, StringComparison.Ordinal);
        var detail = await admin.DeviceAsync(agent.DeviceId);
        Assert.Equal(Environment.ProcessorCount, detail.Hardware.CpuCount);

        // The agent was running before fleet.json existed: it picks it up, uploads, and reports what it runs.
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.PublishAskAsync(JsonSerializer.Serialize(new { id = "q1", question = $"Where is {Secret}? Mail boss@example.com" }));
        await client.RepliesUntilFinalAsync("q1");
        var items = await FleetAdmin.UntilAsync(() => admin.TelemetryAsync(agent.DeviceId),
            t => t.Any(i => i.Name == "requests" && i.Value >= 1) && t.Any(i => i.Name == "agent_started"), "the agent's telemetry");
        Assert.Contains(items, i => i.Name == "retrieval_only");
        Assert.Contains(items, i => i.Name == "disk_free_bytes" && i.Value > 0);
        Assert.Contains(items, i => i.Name == "latency_p99_ms");
        var reported = await FleetAdmin.UntilAsync(() => admin.DeviceAsync(agent.DeviceId), d => d.Reported is not null, "the reported state");
        Assert.Equal("retrieval_only", reported.Reported!.State);
        Assert.Equal("degraded", reported.Device.Health);

        // Query-log upload is off by default: the question is in no outbox row and in nothing the server stored.
        var all = JsonSerializer.Serialize(await admin.TelemetryAsync(agent.DeviceId), FleetJsonContext.Default.IReadOnlyListTelemetryItem);
        Assert.DoesNotContain(Secret, all, StringComparison.Ordinal);
        Assert.DoesNotContain("boss@example.com", all, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, DeviceFleetKit.Everything(Path.Combine(agent.DataDir, "agent.db")), StringComparison.Ordinal);

        // The token was for one enrollment; a dead server is named.
        (exit, _, stderr) = await EdgellmAsync("enroll", "--server", admin.Url, "--token", token, "--device-id", "other-1", "--data-dir", Path.Combine(dir.Path, "other"));
        Assert.Equal(1, exit);
        Assert.Contains("refused the enrollment token", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        var dead = $"http://127.0.0.1:{TestModels.FreePort().ToString(CultureInfo.InvariantCulture)}";
        (exit, _, stderr) = await EdgellmAsync("enroll", "--server", dead, "--token", token, "--device-id", "other-1", "--data-dir", Path.Combine(dir.Path, "other"));
        Assert.Equal(1, exit);
        Assert.Contains($"cannot reach the fleet server at {dead}", stderr, StringComparison.Ordinal);
        (exit, _, stderr) = await EdgellmAsync("enroll", "--server", admin.Url, "--token", token, "--device-id", "bad id!", "--data-dir", Path.Combine(dir.Path, "other"));
        Assert.Equal(1, exit);
        Assert.Contains("--device-id", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir.Path, "other", "fleet.json")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_device_offline_for_a_day_catches_up_with_nothing_lost_or_duplicated(bool onPostgres)
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await StartServerAsync(dir, onPostgres);
        using var admin = new FleetAdmin(server);
        var data = Path.Combine(dir.Path, "device");
        await admin.EnrollAsync("offline-1", data);
        using var device = new DeviceFleetKit(data, new FleetOptions { BatchSize = 1000, BackoffMinMs = 1000, BackoffMaxMs = 300_000 });
        await server.KillAsync();

        // A day of samples, once a minute, while every upload attempt (at the uploader's own backoff) fails.
        var nextUpload = device.Time.GetUtcNow();
        var attempts = 0;
        for (var minute = 0; minute < 24 * 60; minute++)
        {
            device.Time.Advance(TimeSpan.FromMinutes(1));
            device.Sampler.Step();
            if (device.Time.GetUtcNow() >= nextUpload)
            {
                nextUpload = device.Time.GetUtcNow() + await device.Uploader.StepAsync(CancellationToken.None);
                attempts++;
            }
        }

        Assert.InRange(attempts, 10, 1440);
        Assert.True(device.Uploader.Failures > 5);
        var history = DeviceFleetKit.Rows(Path.Combine(data, "agent.db"));
        Assert.Equal(device.Outbox.LastSeq, history.Count);
        Assert.Equal((0L, 0L), device.Outbox.Dropped);

        await server.RestartAsync(CancellationToken.None);
        await device.DrainAsync();
        var stored = await admin.TelemetryAsync("offline-1");
        AssertContiguous(stored, history.Count);
        Assert.Equal(history, DeviceFleetKit.Rows(stored));
        Assert.Equal(history[0].TsMs + (long)TimeSpan.FromHours(24).TotalMilliseconds - 60_000, history[^1].TsMs);
        var detail = await admin.DeviceAsync("offline-1");
        Assert.Equal(history.Count, detail.TelemetryCount);
    }

    [Fact]
    public async Task A_server_restart_mid_upload_loses_and_duplicates_nothing()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await StartServerAsync(dir);
        using var admin = new FleetAdmin(server);
        var data = Path.Combine(dir.Path, "device");
        await admin.EnrollAsync("restart-1", data);
        using var device = new DeviceFleetKit(data, new FleetOptions { BatchSize = 50 });
        for (var i = 0; i < 60; i++)
        {
            device.Time.Advance(TimeSpan.FromMinutes(1));
            device.Sampler.Step();
        }

        var history = DeviceFleetKit.Rows(Path.Combine(data, "agent.db"));
        for (var i = 0; i < 3; i++)
        {
            await device.Uploader.StepAsync(CancellationToken.None);
        }

        // The server dies while a batch is on its way: stored or not, the batch stays in the outbox until acknowledged.
        var inFlight = device.Uploader.StepAsync(CancellationToken.None);
        await server.KillAsync();
        await inFlight;
        await device.Uploader.StepAsync(CancellationToken.None);
        Assert.True(device.Uploader.Failures >= 1);
        Assert.True(device.Outbox.Count > 0);

        await server.RestartAsync(CancellationToken.None);
        await device.DrainAsync();
        var stored = await admin.TelemetryAsync("restart-1");
        AssertContiguous(stored, history.Count);
        Assert.Equal(history, DeviceFleetKit.Rows(stored));
    }

    [Fact]
    public async Task A_revoked_credential_stops_uploads_and_keeps_the_data()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await StartServerAsync(dir);
        using var admin = new FleetAdmin(server);
        var data = Path.Combine(dir.Path, "device");
        await admin.EnrollAsync("revoked-1", data);
        using var device = new DeviceFleetKit(data, new FleetOptions());
        device.Sampler.Step();
        await device.DrainAsync();
        var before = (await admin.DeviceAsync("revoked-1")).TelemetryCount;
        Assert.True(before > 0);

        await admin.RevokeAsync("revoked-1");
        device.Sampler.Step();
        var kept = device.Outbox.Count;
        await device.Uploader.StepAsync(CancellationToken.None);
        Assert.True(device.Link.Refused);
        var attempts = device.Uploader.Attempts;
        for (var i = 0; i < 3; i++)
        {
            device.Sampler.Step();
            await device.Uploader.StepAsync(CancellationToken.None);
        }

        Assert.Equal(attempts, device.Uploader.Attempts);
        Assert.True(device.Outbox.Count > kept);
        Assert.Equal("revoked", device.Outbox.GetState(FleetLink.StateKey));
        Assert.Equal(before, (await admin.DeviceAsync("revoked-1")).TelemetryCount);
    }

    [Fact]
    public async Task Kill_9_of_the_agent_mid_upload_then_a_restart_loses_and_duplicates_nothing()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await StartServerAsync(dir);
        using var admin = new FleetAdmin(server);
        var data = Path.Combine(dir.Path, "device");
        await admin.EnrollAsync("crash-1", data);
        // A backlog the agent finds at start: many small batches, so the kill lands in the middle.
        using (var backlog = new DeviceFleetKit(data, new FleetOptions()))
        {
            for (var i = 0; i < 300; i++)
            {
                backlog.Time.Advance(TimeSpan.FromMinutes(1));
                backlog.Sampler.Step();
            }
        }

        var prefilled = DeviceFleetKit.Rows(Path.Combine(data, "agent.db"));
        string[] args = ["--device-id", "crash-1", "--data-dir", data, "--model", "none", "--broker", "embedded", "--broker-port", TestModels.FreePort().ToString(CultureInfo.InvariantCulture)];
        var env = new Dictionary<string, string> { ["EDGELLM__FLEET__BATCHSIZE"] = "10", ["EDGELLM__FLEET__UPLOADINTERVALSECONDS"] = "1", ["EDGELLM__FLEET__BACKOFFMINMS"] = "50", ["EDGELLM__FLEET__BACKOFFMAXMS"] = "500" };
        await using (var first = AgentProcess.Start(args, env))
        {
            var partial = await FleetAdmin.UntilAsync(() => admin.DeviceAsync("crash-1"), d => d.TelemetryCount >= 100, "the first batches");
            first.Kill();
            await first.WaitForExitAsync();
            Assert.True(partial.TelemetryCount < prefilled.Count, $"the upload finished ({partial.TelemetryCount}) before the kill");
        }

        await using (var second = AgentProcess.Start(args, env))
        {
            await FleetAdmin.UntilAsync(() => admin.TelemetryAsync("crash-1"), t => t.Count(i => i.Name == "agent_started") == 2, "the rest after the restart");
            await second.TerminateAsync();
            Assert.Equal(0, await second.WaitForExitAsync());
        }

        var stored = await admin.TelemetryAsync("crash-1");
        var left = DeviceFleetKit.Rows(Path.Combine(data, "agent.db"));
        using var outbox = new Outbox(Path.Combine(data, "agent.db"), 1 << 24, TimeProvider.System);
        Assert.Equal((0L, 0L), outbox.Dropped);
        // Every seq ever handed out is on the server or still queued; the server holds each once.
        Assert.Equal(stored.Count, stored.Select(i => i.Seq).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, (int)outbox.LastSeq).Select(i => (long)i), stored.Select(i => i.Seq).Union(left.Select(r => r.Seq)).Order());
        Assert.Equal(prefilled, DeviceFleetKit.Rows(stored.Take(prefilled.Count)));
        Assert.Equal(2, stored.Count(i => i.Name == "agent_started"));
    }
}
