using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Fleet.Tests.Api;

/// <summary>The real <c>edgellm-fleet</c> executable: start-up, the first admin key, a crash in the middle of uploads.</summary>
[Collection(PostgresClusterDefinition.Name)]
public sealed class ServerProcessTests(PostgresFixture postgres)
{
    [Fact]
    public async Task The_first_admin_key_comes_from_the_environment_and_nothing_is_printed()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await FleetServerProcess.StartAsync(new FleetServerStart { DataDir = dir.Path }, CancellationToken.None);
        using var admin = Client(server.BaseUri, server.AdminKey);
        var keys = await FleetTestServer.ReadAsync(await admin.GetAsync(FleetRoutes.Keys), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListApiKeyInfo);
        Assert.Equal(FleetRoles.Admin, Assert.Single(keys).Role);
        Assert.DoesNotContain(server.StdoutLines, l => l.Contains("admin key", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(dir.Path, "fleet.db")), server.Output);
    }

    [Fact]
    public async Task A_generated_admin_key_is_printed_once_and_not_at_the_second_start()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await FleetServerProcess.StartAsync(new FleetServerStart { DataDir = dir.Path, PassAdminKey = false }, CancellationToken.None);
        var printed = Assert.Single(server.StdoutLines, l => l.StartsWith("admin key: ", StringComparison.Ordinal));
        Assert.Matches("^admin key: eak_[A-Za-z0-9_-]{43}$", printed);
        using var admin = Client(server.BaseUri, server.AdminKey);
        using (var ok = await admin.GetAsync(FleetRoutes.Keys))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        await server.StopAsync();
        await server.RestartAsync(CancellationToken.None);
        Assert.Single(server.StdoutLines, l => l.Contains("admin key", StringComparison.Ordinal));
        using (var stillOk = await admin.GetAsync(FleetRoutes.Keys))
        {
            Assert.Equal(HttpStatusCode.OK, stillOk.StatusCode);
        }
    }

    [Theory]
    [InlineData("eak_short")]
    [InlineData("not-a-key-at-all-but-long-enough-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("eak_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task A_weak_admin_key_in_the_environment_stops_the_first_start_with_a_clear_error(string key)
    {
        using var dir = TestPaths.NewTempDir();
        var port = FleetServerProcess.FreePort();
        var (exitCode, stdout, stderr) = await FleetServerProcess.RunToExitAsync(
            ["--urls", $"http://127.0.0.1:{port}", "--data-dir", dir.Path],
            new Dictionary<string, string> { ["EDGELLM_FLEET_ADMIN_KEY"] = key },
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, exitCode);
        Assert.Contains("EDGELLM_FLEET_ADMIN_KEY", stderr);
        Assert.DoesNotContain("admin key:", stdout);
    }

    [Fact]
    public async Task An_invalid_setting_stops_the_start_with_exit_code_1()
    {
        using var dir = TestPaths.NewTempDir();
        var (exitCode, _, stderr) = await FleetServerProcess.RunToExitAsync(
            ["--urls", $"http://127.0.0.1:{FleetServerProcess.FreePort()}", "--data-dir", dir.Path, "--Fleet:TelemetryBurst=0"],
            new Dictionary<string, string>(),
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, exitCode);
        Assert.Contains("TelemetryBurst", stderr);
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_every_route_with_a_name()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await FleetServerProcess.StartAsync(new FleetServerStart { DataDir = dir.Path }, CancellationToken.None);
        using var http = Client(server.BaseUri, null);
        using var response = await http.GetAsync(FleetRoutes.OpenApi);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var paths = doc.RootElement.GetProperty("paths");
        string[] expected =
        [
            FleetRoutes.Enroll, FleetRoutes.Telemetry, FleetRoutes.Desired, FleetRoutes.Reported, FleetRoutes.RotateCredential,
            FleetRoutes.Tokens, FleetRoutes.Tokens + "/{id}", FleetRoutes.Devices, FleetRoutes.Devices + "/{id}",
            FleetRoutes.Devices + "/{id}/desired", FleetRoutes.Devices + "/{id}/revoke", FleetRoutes.Devices + "/{id}/telemetry",
            FleetRoutes.Keys, FleetRoutes.Keys + "/{id}", FleetRoutes.Audit, FleetRoutes.Health,
            BundleRoutes.Bundles, BundleRoutes.Bundles + "/{name}", BundleRoutes.Bundles + "/{name}/channels/{channel}", BundleRoutes.Artifacts + "/{sha256}",
            RolloutRoutes.Rollouts, RolloutRoutes.Rollouts + "/{id}", .. new[] { "pause", "resume", "abort", "rollback", "step" }.Select(a => RolloutRoutes.Rollouts + "/{id}/" + a),
        ];
        Assert.Equal(expected.Order(), paths.EnumerateObject().Select(p => p.Name).Order());
        foreach (var path in paths.EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject().Where(o => o.Name is "get" or "post" or "put" or "delete"))
            {
                Assert.True(operation.Value.TryGetProperty("operationId", out _), $"{operation.Name} {path.Name} has no name");
                Assert.True(operation.Value.TryGetProperty("summary", out _), $"{operation.Name} {path.Name} has no summary");
            }
        }

        Assert.True(paths.GetProperty(FleetRoutes.Telemetry).GetProperty("post").GetProperty("responses").TryGetProperty("429", out _));
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task A_server_killed_mid_upload_and_restarted_ends_with_every_seq_stored_exactly_once(StoreKind kind)
    {
        using var dir = TestPaths.NewTempDir();
        var start = kind == StoreKind.Sqlite
            ? new FleetServerStart { DataDir = dir.Path }
            : new FleetServerStart { Postgres = await postgres.Cluster.CreateDatabaseAsync("crash_" + Guid.NewGuid().ToString("N")[..16], CancellationToken.None) };
        start = start with { ExtraArgs = ["--Fleet:TelemetryBatchesPerMinute=1000000", "--Fleet:TelemetryBurst=100000"] };
        await using var server = await FleetServerProcess.StartAsync(start, CancellationToken.None);
        using var admin = Client(server.BaseUri, server.AdminKey);
        using var tokenResponse = await admin.PostAsync(FleetRoutes.Tokens, FleetTestServer.RawJson("{}"));
        var token = await FleetTestServer.ReadAsync(tokenResponse, HttpStatusCode.Created, FleetJsonContext.Default.EnrollmentToken);
        using var anonymous = Client(server.BaseUri, null);
        using var enrollResponse = await anonymous.PostAsync(FleetRoutes.Enroll, FleetTestServer.RawJson($$"""{"token":"{{token.Token}}","device_id":"crash-1"}"""));
        var enrolled = await FleetTestServer.ReadAsync(enrollResponse, HttpStatusCode.Created, FleetJsonContext.Default.EnrollResponse);
        using var device = Client(server.BaseUri, enrolled.Credential);

        const int batches = 60;
        const int perBatch = 25;
        var acked = 0;
        var failures = 0;
        var upload = Task.Run(async () =>
        {
            for (var b = 0; b < batches; b++)
            {
                var batch = TelemetryTests.Batch((b * perBatch) + 1, (b + 1) * perBatch);
                for (var attempt = 0; ; attempt++)
                {
                    Assert.True(attempt < 2000, $"batch {b} never acknowledged:\n{server.Output}");
                    try
                    {
                        using var response = await device.PostAsync(FleetRoutes.Telemetry, FleetTestServer.Json(batch, FleetJsonContext.Default.TelemetryBatch));
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            Interlocked.Increment(ref acked);
                            break;
                        }

                        Assert.True((int)response.StatusCode >= 500, $"batch {b}: {(int)response.StatusCode}");
                    }
                    catch (HttpRequestException)
                    {
                        // The server is down: retry, like the device's uploader.
                    }

                    Interlocked.Increment(ref failures);
                    await Task.Delay(20);
                }
            }
        });

        // Kill the server while batches are in flight, once some have been acknowledged.
        for (var spin = 0; Volatile.Read(ref acked) < 15; spin++)
        {
            Assert.True(spin < 6000 && !upload.IsCompleted, $"uploads did not progress:\n{server.Output}");
            await Task.Delay(5);
        }

        await server.KillAsync();
        var ackedAtKill = Volatile.Read(ref acked);
        await server.RestartAsync(CancellationToken.None);
        await upload.WaitAsync(TimeSpan.FromMinutes(3));

        var stored = await TelemetryTests.ReadAllAsync(admin, "crash-1");
        Assert.Equal(Enumerable.Range(1, batches * perBatch).Select(i => (long)i), stored.Select(i => i.Seq));
        Assert.True(ackedAtKill < batches, "the kill came after the upload had finished");
        Assert.True(failures > 0, "no upload failed: the kill did not interrupt anything");
    }

    private static HttpClient Client(Uri baseUri, string? secret)
    {
        var client = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(30) };
        if (secret is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        }

        return client;
    }
}
