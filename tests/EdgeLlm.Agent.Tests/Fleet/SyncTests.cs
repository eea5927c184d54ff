using System.Text.Json;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Contracts.Mqtt;

namespace EdgeLlm.Agent.Tests.Fleet;

public sealed class SyncTests
{
    [Fact]
    public async Task Desired_state_is_polled_with_its_etag_kept_across_restarts_and_what_runs_is_reported()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit(new FleetOptions { QueryLogUpload = true });
        kit.Enroll(server.BaseUri);
        server.Handler = r => r.Method == "GET"
            ? r.IfNoneMatch == "\"3\""
                ? new FakeResponse(304)
                : new FakeResponse(200, """{"revision":3,"model":{"name":"qwen","version":"2"},"adapters":[],"query_log_upload":true}""", new Dictionary<string, string> { ["ETag"] = "\"3\"" })
            : new FakeResponse(204);
        await kit.Desired.StartAsync(CancellationToken.None);
        await kit.Desired.StopAsync(CancellationToken.None);
        Assert.False(kit.Policy.Allowed);

        Assert.Equal(kit.Fleet.PollInterval, await kit.Desired.StepAsync(CancellationToken.None));
        Assert.Equal(3, kit.Desired.Desired.Revision);
        Assert.True(kit.Policy.Allowed);
        var put = server.Requests.Single(r => r.Method == "PUT");
        Assert.Equal(FleetRoutes.Reported, put.Path);
        var reported = JsonSerializer.Deserialize(put.Body, FleetJsonContext.Default.ReportedState)!;
        Assert.Equal("qwen", reported.Model!.Name);
        Assert.Equal("1", reported.Model.Version);
        // The desired model is another version: stored and reported as not applied, not installed.
        Assert.Equal(0, reported.AppliedRevision);
        Assert.Equal("ready", reported.State);
        Assert.Equal("9.9.9", reported.AgentVersion);

        // Unchanged: a 304 and no second report.
        await kit.Desired.StepAsync(CancellationToken.None);
        Assert.Equal("\"3\"", server.Requests.Last(r => r.Method == "GET").IfNoneMatch);
        Assert.Single(server.Requests, r => r.Method == "PUT");

        // A new sync over the same agent.db (a restart) starts from the stored state, offline.
        using var again = new DesiredStateSync(kit.Outbox, kit.Link, new QueryLogPolicy(Microsoft.Extensions.Options.Options.Create(kit.Agent), Microsoft.Extensions.Options.Options.Create(kit.Fleet)),
            kit.Requests, kit.Probe, Microsoft.Extensions.Options.Options.Create(kit.Fleet), kit.Time, Microsoft.Extensions.Logging.Abstractions.NullLogger<DesiredStateSync>.Instance);
        await again.StartAsync(CancellationToken.None);
        await again.StopAsync(CancellationToken.None);
        Assert.Equal(3, again.Desired.Revision);
    }

    [Fact]
    public async Task Matching_desired_model_is_reported_applied_and_withdrawing_query_upload_purges_queued_entries()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit(new FleetOptions { QueryLogUpload = true });
        kit.Enroll(server.BaseUri);
        var allow = true;
        var revision = 1;
        server.Handler = r => r.Method == "GET"
            ? new FakeResponse(200, $$"""{"revision":{{revision}},"model":{"name":"qwen","version":"1"},"adapters":[],"query_log_upload":{{(allow ? "true" : "false")}}}""", new Dictionary<string, string> { ["ETag"] = $"\"{revision}\"" })
            : new FakeResponse(204);
        await kit.Desired.StepAsync(CancellationToken.None);
        Assert.Equal(1, JsonSerializer.Deserialize(server.Requests.Last(r => r.Method == "PUT").Body, FleetJsonContext.Default.ReportedState)!.AppliedRevision);
        kit.Requests.Completed(new Storage.QueryLogEntry(kit.Time.GetUtcNow(), "r", "auto", "q", "a", "stop", 1, 1, 1), false, 1);
        Assert.Equal(1, kit.Outbox.Count);

        (allow, revision) = (false, 2);
        await kit.Desired.StepAsync(CancellationToken.None);
        Assert.False(kit.Policy.Allowed);
        Assert.Equal(0, kit.Outbox.Count);
    }

    [Fact]
    public async Task Samples_carry_latency_percentiles_rates_errors_and_device_readings()
    {
        using var kit = new FleetKit();
        await kit.Sampler.StartAsync(CancellationToken.None);
        await kit.Sampler.StopAsync(CancellationToken.None);
        var events = kit.Outbox.ReadBatch(1000).Where(i => i.Kind == TelemetryKinds.Event).Select(i => i.Name);
        Assert.Equal(["agent_started", "model_loaded"], events);
        kit.Outbox.Acknowledge(1, kit.Outbox.LastSeq);

        for (var i = 1; i <= 100; i++)
        {
            kit.Requests.Completed(new Storage.QueryLogEntry(kit.Time.GetUtcNow(), $"r{i}", "auto", "q", "a", "stop", 1, 1, i), false, 10 + (i % 2));
        }

        kit.Requests.Refused(ErrorCodes.Busy);
        kit.Requests.Refused(ErrorCodes.Busy);
        kit.Sampler.Step();
        var items = kit.Outbox.ReadBatch(1000).Where(i => i.Kind == TelemetryKinds.Metric).ToDictionary(i => i.Name + (i.Data?.TryGetProperty("code", out var c) == true ? ":" + c.GetString() : ""));
        Assert.Equal(100, items["requests"].Value);
        Assert.Equal(50, items["latency_p50_ms"].Value);
        Assert.Equal(95, items["latency_p95_ms"].Value);
        Assert.Equal(99, items["latency_p99_ms"].Value);
        Assert.Equal(10.5, items["tokens_per_s"].Value);
        Assert.Equal(2, items["errors:busy"].Value);
        Assert.Equal(2, items["queue_depth"].Value);
        Assert.Equal(51.5, items["temperature_c"].Value);
        Assert.Equal(1_000_000, items["memory_available_bytes"].Value);
        Assert.Equal(3_000_000, items["disk_free_bytes"].Value);
        Assert.Equal(2, kit.Outbox.ReadBatch(1000).Count(i => i.Name == "request_error"));
        Assert.All(kit.Outbox.ReadBatch(1000).Where(i => i.Kind == TelemetryKinds.Metric), i => Assert.Equal(kit.Time.GetUtcNow(), i.Ts));

        // The next sample starts from zero.
        kit.Sampler.Step();
        Assert.Equal(0, kit.Outbox.ReadBatch(1000).Last(i => i.Name == "requests").Value);
    }

    [Fact]
    public void Meminfo_and_hardware_facts_come_from_the_given_root()
    {
        using var root = Runtime.Tests.TestPaths.NewTempDir();
        Directory.CreateDirectory(Path.Combine(root.Path, "proc"));
        Directory.CreateDirectory(Path.Combine(root.Path, "dev", "accel"));
        Directory.CreateDirectory(Path.Combine(root.Path, "etc"));
        File.WriteAllText(Path.Combine(root.Path, "proc", "meminfo"), "MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    4000000 kB\n");
        File.WriteAllText(Path.Combine(root.Path, "dev", "nvidia0"), "");
        File.WriteAllText(Path.Combine(root.Path, "dev", "accel", "accel0"), "");
        File.WriteAllText(Path.Combine(root.Path, "etc", "nv_tegra_release"), "# R36");
        File.WriteAllText(Path.Combine(root.Path, "etc", "os-release"), "NAME=Debian\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n");
        Assert.Equal(4_096_000_000, DeviceProbe.MemAvailable(Path.Combine(root.Path, "proc", "meminfo")));
        var facts = HardwareFacts.Collect(Path.Combine(root.Path, "not", "yet"), root.Path);
        Assert.Equal(8_192_000_000, facts.MemoryBytes);
        Assert.Equal(["cuda", "npu", "tegra"], facts.Accelerators);
        Assert.Equal("Debian GNU/Linux 13 (trixie)", facts.Os);
        Assert.True(facts.DiskBytes > 0);
        Assert.Equal(Environment.ProcessorCount, facts.CpuCount);
        Assert.Empty(HardwareFacts.Accelerators(Path.Combine(root.Path, "proc")));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Fleet_json_is_written_atomically_with_mode_0600_and_read_back()
    {
        using var dir = Runtime.Tests.TestPaths.NewTempDir();
        var path = FleetCredentials.PathIn(dir.Path);
        new FleetCredentials { Server = "http://127.0.0.1:1", DeviceId = "d", Credential = "edc_x" }.Write(path);
        new FleetCredentials { Server = "http://127.0.0.1:2", DeviceId = "d", Credential = "edc_y" }.Write(path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal("edc_y", FleetCredentials.Read(path)!.Credential);
        Assert.Single(Directory.GetFiles(dir.Path));
        File.WriteAllText(path, "{\"server\":\"ftp://x\",\"device_id\":\"d\",\"credential\":\"c\"}");
        Assert.Throws<InvalidDataException>(() => FleetCredentials.Read(path));
        Assert.Null(FleetCredentials.Read(Path.Combine(dir.Path, "none.json")));
    }
}
