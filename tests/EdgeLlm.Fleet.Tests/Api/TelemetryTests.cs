using System.Net;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;

namespace EdgeLlm.Fleet.Tests.Api;

[Collection(PostgresClusterDefinition.Name)]
public sealed class TelemetryTests(PostgresFixture postgres)
{
    internal static TelemetryBatch Batch(long from, long to) => new()
    {
        Items = [.. Enumerable.Range((int)from, (int)(to - from + 1)).Select(seq => new TelemetryItem
        {
            Seq = seq,
            Ts = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(seq),
            Kind = TelemetryKinds.Metric,
            Name = "tokens_per_s",
            Value = seq / 10.0,
        })],
    };

    internal static async Task<TelemetryAck> PostAsync(HttpClient device, TelemetryBatch batch)
    {
        using var response = await device.PostAsync(FleetRoutes.Telemetry, FleetTestServer.Json(batch, FleetJsonContext.Default.TelemetryBatch));
        return await FleetTestServer.ReadAsync(response, HttpStatusCode.OK, FleetJsonContext.Default.TelemetryAck);
    }

    /// <summary>Every stored item of a device, read page by page through the API.</summary>
    internal static async Task<List<TelemetryItem>> ReadAllAsync(HttpClient admin, string deviceId)
    {
        var all = new List<TelemetryItem>();
        for (var page = 0; page < 1000; page++)
        {
            var after = all.Count == 0 ? -1 : all[^1].Seq;
            using var response = await admin.GetAsync($"{FleetRoutes.DeviceTelemetry(deviceId)}?limit=1000&after={after}");
            var items = await FleetTestServer.ReadAsync(response, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListTelemetryItem);
            if (items.Count == 0)
            {
                return all;
            }

            all.AddRange(items);
        }

        throw new InvalidOperationException("More than 1000 pages of telemetry.");
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Retried_reordered_and_concurrent_batches_store_every_seq_exactly_once(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var device = await server.EnrollAsync("tele-1");

        Assert.Equal(new TelemetryAck { Accepted = 10, Duplicates = 0 }, await PostAsync(device.Http, Batch(31, 40)));
        Assert.Equal(new TelemetryAck { Accepted = 30, Duplicates = 10 }, await PostAsync(device.Http, Batch(1, 40)));
        Assert.Equal(new TelemetryAck { Accepted = 0, Duplicates = 40 }, await PostAsync(device.Http, Batch(1, 40)));

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => PostAsync(device.Http, Batch(35, 80))));
        Assert.Equal(40, concurrent.Sum(a => a.Accepted));
        Assert.All(concurrent, a => Assert.Equal(46, a.Accepted + a.Duplicates));

        var stored = await ReadAllAsync(server.Admin, device.DeviceId);
        Assert.Equal(Enumerable.Range(1, 80).Select(i => (long)i), stored.Select(i => i.Seq));
        Assert.Equal(4.2, stored[41].Value);

        var detail = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Device(device.DeviceId)), HttpStatusCode.OK, FleetJsonContext.Default.DeviceDetail);
        Assert.Equal(80, detail.LastSeq);
        Assert.Equal(80, detail.TelemetryCount);
        Assert.Equal(server.Time.GetUtcNow(), detail.Device.LastSeen);
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task A_device_over_its_rate_gets_429_with_retry_after_and_others_are_unaffected(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres, "--Fleet:TelemetryBatchesPerMinute=1", "--Fleet:TelemetryBurst=3");
        var chatty = await server.EnrollAsync("chatty");
        var quiet = await server.EnrollAsync("quiet");
        for (var i = 0; i < 3; i++)
        {
            await PostAsync(chatty.Http, Batch(i + 1, i + 1));
        }

        using var limited = await chatty.Http.PostAsync(FleetRoutes.Telemetry, FleetTestServer.Json(Batch(4, 4), FleetJsonContext.Default.TelemetryBatch));
        await FleetTestServer.ErrorAsync(limited, HttpStatusCode.TooManyRequests, FleetErrorCodes.RateLimited);
        var retryAfter = limited.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 60);

        Assert.Equal(1, (await PostAsync(quiet.Http, Batch(1, 1))).Accepted);
        Assert.Equal(3, (await ReadAllAsync(server.Admin, chatty.DeviceId)).Count);
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Health_is_unknown_before_a_report_then_reported_then_stale(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres, "--Fleet:StaleAfter=00:05:00");
        var device = await server.EnrollAsync("health-1");
        Assert.Equal("unknown", (await SummaryAsync(server, device.DeviceId)).Health);

        var reported = new ReportedState
        {
            AppliedRevision = 0,
            Model = new ArtifactRef { Name = "qwen2.5-0.5b", Version = "1.2.0" },
            AgentVersion = "0.6.0",
            Health = "degraded",
            State = "retrieval_only",
            Errors = ["model load failed"],
        };
        using (var put = await device.Http.PutAsync(FleetRoutes.Reported, FleetTestServer.Json(reported, FleetJsonContext.Default.ReportedState)))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        var summary = await SummaryAsync(server, device.DeviceId);
        Assert.Equal(("degraded", "qwen2.5-0.5b", "1.2.0", "0.6.0"), (summary.Health, summary.ModelName, summary.ModelVersion, summary.AgentVersion));

        server.Time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal("degraded", (await SummaryAsync(server, device.DeviceId)).Health);
        server.Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal("stale", (await SummaryAsync(server, device.DeviceId)).Health);

        using (var poll = await device.Http.GetAsync(FleetRoutes.Desired))
        {
            Assert.Equal(HttpStatusCode.OK, poll.StatusCode);
        }

        var back = await SummaryAsync(server, device.DeviceId);
        Assert.Equal("degraded", back.Health);
        Assert.Equal(server.Time.GetUtcNow(), back.LastSeen);
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Desired_state_round_trips_with_etag_and_304(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var device = await server.EnrollAsync("desired-1");

        using var first = await device.Http.GetAsync(FleetRoutes.Desired);
        var initial = await FleetTestServer.ReadAsync(first, HttpStatusCode.OK, FleetJsonContext.Default.DesiredState);
        Assert.Equal(0, initial.Revision);
        Assert.Equal("\"0\"", first.Headers.ETag?.ToString());

        using (var same = await GetIfNoneMatchAsync(device.Http, "\"0\""))
        {
            Assert.Equal(HttpStatusCode.NotModified, same.StatusCode);
            Assert.Equal("\"0\"", same.Headers.ETag?.ToString());
        }

        var update = new DesiredStateUpdate
        {
            Model = new ArtifactRef { Name = "qwen2.5-0.5b", Version = "2.0.0", Sha256 = new string('a', 64) },
            Adapters = [new ArtifactRef { Name = "pumps-lora", Version = "3" }],
            Config = JsonDocument.Parse("""{"Agent":{"MaxTokens":256}}""").RootElement,
            QueryLogUpload = true,
        };
        using var put = await server.Admin.PutAsync(FleetRoutes.DeviceDesired(device.DeviceId), FleetTestServer.Json(update, FleetJsonContext.Default.DesiredStateUpdate));
        Assert.Equal(1, (await FleetTestServer.ReadAsync(put, HttpStatusCode.OK, FleetJsonContext.Default.DesiredState)).Revision);

        using var changed = await GetIfNoneMatchAsync(device.Http, "\"0\"");
        var desired = await FleetTestServer.ReadAsync(changed, HttpStatusCode.OK, FleetJsonContext.Default.DesiredState);
        Assert.Equal("\"1\"", changed.Headers.ETag?.ToString());
        Assert.Equal(("2.0.0", "pumps-lora", 256, true), (desired.Model!.Version, desired.Adapters.Single().Name, desired.Config!.Value.GetProperty("Agent").GetProperty("MaxTokens").GetInt32(), desired.QueryLogUpload));

        using (var unchanged = await GetIfNoneMatchAsync(device.Http, "\"1\""))
        {
            Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        }

        using var missing = await server.Admin.PutAsync(FleetRoutes.DeviceDesired("no-such-device"), FleetTestServer.Json(update, FleetJsonContext.Default.DesiredStateUpdate));
        await FleetTestServer.ErrorAsync(missing, HttpStatusCode.NotFound, FleetErrorCodes.NotFound);
    }

    private static Task<HttpResponseMessage> GetIfNoneMatchAsync(HttpClient client, string etag)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, FleetRoutes.Desired);
        request.Headers.TryAddWithoutValidation("If-None-Match", etag);
        return client.SendAsync(request);
    }

    private static async Task<DeviceSummary> SummaryAsync(FleetTestServer server, string deviceId)
    {
        using var response = await server.Admin.GetAsync(FleetRoutes.Devices);
        var list = await FleetTestServer.ReadAsync(response, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListDeviceSummary);
        return list.Single(d => d.DeviceId == deviceId);
    }
}
