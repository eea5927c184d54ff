using System.Text.Json;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Agent.Tests.Fleet;

public sealed class UploaderTests
{
    private static void Fill(FleetKit kit, int n)
    {
        for (var i = 0; i < n; i++)
        {
            kit.Outbox.Enqueue(OutboxEntry.Metric(kit.Time.GetUtcNow().AddSeconds(i), "m", i));
        }
    }

    private static IEnumerable<long> Seqs(ReceivedRequest r) =>
        JsonSerializer.Deserialize(r.Body, FleetJsonContext.Default.TelemetryBatch)!.Items.Select(i => i.Seq);

    [Fact]
    public void Backoff_grows_to_its_ceiling_with_full_jitter_and_is_reproducible_with_a_seed()
    {
        var a = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(3000), new Random(1));
        var b = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(3000), new Random(1));
        var ceilings = new List<double>();
        var waits = new List<double>();
        for (var i = 0; i < 10; i++)
        {
            var w = a.Next();
            Assert.Equal(w, b.Next());
            ceilings.Add(a.Ceiling.TotalMilliseconds);
            waits.Add(w.TotalMilliseconds);
            Assert.InRange(w.TotalMilliseconds, 0, a.Ceiling.TotalMilliseconds);
        }

        Assert.Equal([100.0, 200, 400, 800, 1600, 3000, 3000, 3000, 3000, 3000], ceilings);
        Assert.True(waits.Distinct().Count() > 5, "waits are jittered");
        Assert.True(waits.Skip(5).Average() > waits.Take(3).Average(), "waits grow");
        a.Reset();
        Assert.Equal(0, a.Failures);
        Assert.InRange(a.Next().TotalMilliseconds, 0, 100);
    }

    [Fact]
    public async Task Without_fleet_json_nothing_is_sent_and_enrolling_later_starts_the_upload()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit();
        Fill(kit, 3);
        Assert.Equal(kit.Fleet.UploadInterval, await kit.Uploader.StepAsync(CancellationToken.None));
        Assert.Empty(server.Requests);

        kit.Enroll(server.BaseUri, "edc_abc");
        await kit.Uploader.StepAsync(CancellationToken.None);
        var sent = Assert.Single(server.Requests);
        Assert.Equal("POST", sent.Method);
        Assert.Equal(FleetRoutes.Telemetry, sent.Path);
        Assert.Equal("Bearer edc_abc", sent.Authorization);
        Assert.Equal([1L, 2, 3], Seqs(sent));
        Assert.Equal(0, kit.Outbox.Count);
    }

    [Fact]
    public async Task A_backlog_goes_out_oldest_first_batch_after_batch()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit(new FleetOptions { BatchSize = 4 });
        kit.Enroll(server.BaseUri);
        Fill(kit, 10);
        Assert.Equal(TimeSpan.Zero, await kit.Uploader.StepAsync(CancellationToken.None));
        Assert.Equal(TimeSpan.Zero, await kit.Uploader.StepAsync(CancellationToken.None));
        Assert.Equal(kit.Fleet.UploadInterval, await kit.Uploader.StepAsync(CancellationToken.None));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), server.Requests.SelectMany(Seqs));
    }

    [Fact]
    public async Task Server_errors_back_off_keep_the_items_and_the_upload_resumes()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit(new FleetOptions { BackoffMinMs = 1000, BackoffMaxMs = 8000 });
        kit.Enroll(server.BaseUri);
        Fill(kit, 5);
        server.Handler = _ => new FakeResponse(503, """{"error":{"code":"internal","message":"down"}}""");
        for (var i = 1; i <= 6; i++)
        {
            var wait = await kit.Uploader.StepAsync(CancellationToken.None);
            Assert.InRange(wait.TotalMilliseconds, 0, Math.Min(8000, 1000 * Math.Pow(2, i - 1)));
            Assert.Equal(i, kit.Uploader.Failures);
        }

        Assert.Equal(5, kit.Outbox.Count);
        server.Handler = _ => new FakeResponse(200, """{"accepted":5,"duplicates":0}""");
        await kit.Uploader.StepAsync(CancellationToken.None);
        Assert.Equal(0, kit.Uploader.Failures);
        Assert.Equal(0, kit.Outbox.Count);
        // Every attempt carried the same items: nothing was deleted before the 2xx.
        Assert.All(server.Requests, r => Assert.Equal([1L, 2, 3, 4, 5], Seqs(r)));
        Assert.Equal("ok", kit.Outbox.GetState(FleetLink.StateKey));
    }

    [Fact]
    public async Task An_unreachable_server_is_a_backoff_not_an_error()
    {
        using var kit = new FleetKit();
        kit.Enroll($"http://127.0.0.1:{FakeFleetServer.FreePort()}");
        Fill(kit, 2);
        var wait = await kit.Uploader.StepAsync(CancellationToken.None);
        Assert.InRange(wait.TotalMilliseconds, 0, kit.Fleet.BackoffMinMs);
        Assert.Equal(1, kit.Uploader.Failures);
        Assert.Equal("unreachable", kit.Outbox.GetState(FleetLink.StateKey));
        Assert.Equal(2, kit.Outbox.Count);
    }

    [Fact]
    public async Task Rate_limited_uploads_wait_for_retry_after()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit();
        kit.Enroll(server.BaseUri);
        Fill(kit, 2);
        server.Handler = _ => new FakeResponse(429, """{"error":{"code":"rate_limited","message":"slow"}}""", new Dictionary<string, string> { ["Retry-After"] = "7" });
        Assert.Equal(TimeSpan.FromSeconds(7), await kit.Uploader.StepAsync(CancellationToken.None));
        server.Handler = _ => new FakeResponse(429, "", new Dictionary<string, string> { ["Retry-After"] = kit.Time.GetUtcNow().AddSeconds(90).ToString("R") });
        Assert.Equal(TimeSpan.FromSeconds(90), await kit.Uploader.StepAsync(CancellationToken.None));
        Assert.Equal(2, kit.Outbox.Count);
    }

    [Fact]
    public async Task A_revoked_credential_stops_uploads_keeps_the_data_until_fleet_json_changes()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit();
        kit.Enroll(server.BaseUri, "edc_old");
        Fill(kit, 3);
        server.Handler = _ => new FakeResponse(401, """{"error":{"code":"unauthorized","message":"revoked"}}""");
        await kit.Uploader.StepAsync(CancellationToken.None);
        Assert.True(kit.Link.Refused);
        Assert.Equal("revoked", kit.Outbox.GetState(FleetLink.StateKey));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(kit.Fleet.UploadInterval, await kit.Uploader.StepAsync(CancellationToken.None));
        }

        Assert.Single(server.Requests);
        Assert.Equal(3, kit.Outbox.Count);

        server.Handler = _ => new FakeResponse(200, "{}");
        kit.Enroll(server.BaseUri, "edc_new_and_longer");
        await kit.Uploader.StepAsync(CancellationToken.None);
        Assert.Equal("Bearer edc_new_and_longer", server.Requests.Last().Authorization);
        Assert.Equal(0, kit.Outbox.Count);
    }

    [Fact]
    public async Task An_item_the_server_refuses_is_found_by_halving_dropped_and_reported()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit(new FleetOptions { BatchSize = 8 });
        kit.Enroll(server.BaseUri);
        Fill(kit, 8);
        server.Handler = r => Seqs(r).Contains(3)
            ? new FakeResponse(413, """{"error":{"code":"too_large","message":"no"}}""")
            : new FakeResponse(200, "{}");
        for (var i = 0; i < 20 && kit.Outbox.Count > 0; i++)
        {
            await kit.Uploader.StepAsync(CancellationToken.None);
        }

        var stored = server.Requests.Where(r => !Seqs(r).Contains(3)).SelectMany(Seqs).ToList();
        Assert.Equal([1L, 2, 4, 5, 6, 7, 8, 9], stored);
        Assert.Contains("telemetry_rejected", server.AllBodies, StringComparison.Ordinal);
        Assert.Contains("\"seq\":3", server.AllBodies, StringComparison.Ordinal);
    }
}
