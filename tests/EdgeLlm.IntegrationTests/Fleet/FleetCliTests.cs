using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;

namespace EdgeLlm.IntegrationTests.Fleet;

/// <summary>One real fleet server (SQLite in a temp folder) shared by the CLI tests; each test uses its own devices.</summary>
public sealed class FleetCliServer : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgellm-fleet-cli-" + Guid.NewGuid().ToString("n")[..8]);
    private FleetServerProcess? _server;

    internal FleetServerProcess Server => _server ?? throw new InvalidOperationException("not started");

    public string Url => Server.BaseUri.ToString();

    public async Task InitializeAsync() => _server = await FleetServerProcess.StartAsync(new FleetServerStart { DataDir = _dir }, CancellationToken.None);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}

/// <summary>`edgellm fleet …` (the real executable) against the real `edgellm-fleet`.</summary>
public sealed class FleetCliTests(FleetCliServer fleet) : IClassFixture<FleetCliServer>
{
    private async Task<(int Exit, string Stdout, string Stderr)> FleetAsync(params string[] args) =>
        await RunAsync(["fleet", "--server", fleet.Url, .. args], fleet.Server.AdminKey);

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(IReadOnlyList<string> args, string? adminKey) =>
        DeviceCli.RunAsync(args, psi =>
        {
            // The key goes by environment, as an operator would keep it out of the process list.
            psi.Environment.Remove("EDGELLM_FLEET_SERVER");
            psi.Environment.Remove("EDGELLM_FLEET_ADMIN_KEY");
            if (adminKey is not null)
            {
                psi.Environment["EDGELLM_FLEET_ADMIN_KEY"] = adminKey;
            }
        });

    private static JsonElement Json((int Exit, string Stdout, string Stderr) result)
    {
        Assert.True(result.Exit == 0, $"exit {result.Exit}: {result.Stderr}");
        using var doc = JsonDocument.Parse(result.Stdout);
        return doc.RootElement.Clone();
    }

    private async Task<string> EnrollAsync(HttpClient http, string token, string deviceId)
    {
        using var response = await http.PostAsJsonAsync(new Uri(fleet.Server.BaseUri, FleetRoutes.Enroll),
            new EnrollRequest { Token = token, DeviceId = deviceId, Hardware = new HardwareInfo { Arch = "arm64", CpuCount = 4, Os = "Debian 12" } },
            FleetJsonContext.Default.EnrollRequest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.EnrollResponse))!.Credential;
    }

    [Fact]
    public async Task Token_enroll_list_show_desired_revoke_round_trip()
    {
        using var http = new HttpClient();
        var created = Json(await FleetAsync("tokens", "create", "--uses", "1", "--expires", "1h", "--tag", "lab", "--json"));
        var token = created.GetProperty("token").GetString()!;
        Assert.StartsWith("eet_", token, StringComparison.Ordinal);
        Assert.Equal(1, created.GetProperty("uses_left").GetInt32());
        var expiresIn = created.GetProperty("expires_at").GetDateTimeOffset() - created.GetProperty("created_at").GetDateTimeOffset();
        Assert.InRange(expiresIn.TotalSeconds, 3599, 3601);

        var plain = await FleetAsync("tokens", "create");
        Assert.True(plain.Exit == 0, plain.Stderr);
        Assert.StartsWith("eet_", plain.Stdout.Trim(), StringComparison.Ordinal);

        var id = "cli-" + Guid.NewGuid().ToString("n")[..8];
        var credential = await EnrollAsync(http, token, id);

        var devices = Json(await FleetAsync("devices", "--json"));
        var listed = devices.EnumerateArray().Single(d => d.GetProperty("device_id").GetString() == id);
        Assert.Equal("active", listed.GetProperty("state").GetString());
        Assert.Equal(["lab"], listed.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        var table = await FleetAsync("devices");
        Assert.Contains(table.Stdout.Split('\n'), line => line.StartsWith(id, StringComparison.Ordinal) && line.Contains("active", StringComparison.Ordinal));

        var shown = Json(await FleetAsync("device", "show", id, "--json"));
        Assert.Equal(id, shown.GetProperty("device").GetProperty("device_id").GetString());
        Assert.Equal("arm64", shown.GetProperty("hardware").GetProperty("arch").GetString());

        var config = Path.Combine(Path.GetTempPath(), $"fleet-cli-{id}.json");
        await File.WriteAllTextAsync(config, """{"Agent": {"MaxConcurrency": 2}}""");
        try
        {
            var desired = Json(await FleetAsync("--json", "device", "desired", id, "--model", "qwen2.5-0.5b-int4@1.2.0", "--adapter", "pumps@3",
                "--config-bundle", "line-3@1.0.0", "--config", config, "--query-log-upload"));
            Assert.Equal(1, desired.GetProperty("revision").GetInt64());
        }
        finally
        {
            File.Delete(config);
        }

        // The device sees what the operator set.
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fleet.Server.BaseUri, FleetRoutes.Desired)))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            using var response = await http.SendAsync(request);
            var state = (await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.DesiredState))!;
            Assert.Equal("qwen2.5-0.5b-int4", state.Model!.Name);
            Assert.Equal("1.2.0", state.Model.Version);
            Assert.Equal("pumps@3", string.Join(',', state.Adapters.Select(a => $"{a.Name}@{a.Version}")));
            Assert.Equal(("line-3", "1.0.0"), (state.ConfigBundle!.Name, state.ConfigBundle.Version));
            Assert.Equal(2, state.Config!.Value.GetProperty("Agent").GetProperty("MaxConcurrency").GetInt32());
            Assert.True(state.QueryLogUpload);
        }

        var text = await FleetAsync("device", "show", id);
        Assert.Contains("model qwen2.5-0.5b-int4@1.2.0", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("config line-3@1.0.0", text.Stdout, StringComparison.Ordinal);

        var revoked = await FleetAsync("device", "revoke", id);
        Assert.True(revoked.Exit == 0, revoked.Stderr);
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fleet.Server.BaseUri, FleetRoutes.Desired)))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var after = Json(await FleetAsync("devices", "--json"));
        Assert.Equal("revoked", after.EnumerateArray().Single(d => d.GetProperty("device_id").GetString() == id).GetProperty("state").GetString());

        var audit = Json(await FleetAsync("audit", "--limit", "20", "--json"));
        Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("action").GetString() == "device.revoke" && e.GetProperty("target").GetString() == id);

        var missing = await FleetAsync("device", "show", "no-such-device");
        Assert.Equal(1, missing.Exit);
        Assert.Contains("no-such-device", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_key_and_a_viewer_key_get_one_clear_line()
    {
        var wrong = await RunAsync(["fleet", "devices", "--server", fleet.Url], FleetServerProcess.NewAdminKey());
        Assert.Equal(1, wrong.Exit);
        Assert.Equal("edgellm: admin key refused by the fleet server at " + fleet.Url + ": check --admin-key or EDGELLM_FLEET_ADMIN_KEY", wrong.Stderr.Trim());

        var viewer = Json(await FleetAsync("keys", "create", "--name", "dashboard", "--role", "viewer", "--json"));
        var viewerKey = viewer.GetProperty("key").GetString()!;
        Assert.Equal("viewer", viewer.GetProperty("role").GetString());

        var list = await RunAsync(["fleet", "--server", fleet.Url, "devices"], viewerKey);
        Assert.True(list.Exit == 0, list.Stderr);

        var create = await RunAsync(["fleet", "--server", fleet.Url, "tokens", "create"], viewerKey);
        Assert.Equal(1, create.Exit);
        Assert.Contains("your key's role may not create enrollment tokens", create.Stderr, StringComparison.Ordinal);
        Assert.Equal("", create.Stdout);

        var json = await RunAsync(["fleet", "--server", fleet.Url, "--json", "keys", "list"], viewerKey);
        Assert.Equal(1, json.Exit);
        using var error = JsonDocument.Parse(json.Stderr);
        Assert.Equal("forbidden", error.RootElement.GetProperty("error").GetProperty("code").GetString());

        var keys = Json(await FleetAsync("keys", "list", "--json"));
        var id = keys.EnumerateArray().Single(k => k.GetProperty("name").GetString() == "dashboard").GetProperty("id").GetString()!;
        Assert.Equal(0, (await FleetAsync("keys", "delete", id)).Exit);
        var afterDelete = await RunAsync(["fleet", "--server", fleet.Url, "devices"], viewerKey);
        Assert.Equal(1, afterDelete.Exit);
        Assert.Contains("admin key refused", afterDelete.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_server_names_the_url_and_bad_input_names_the_option()
    {
        var url = $"http://127.0.0.1:{FleetServerProcess.FreePort()}/";
        var down = await RunAsync(["fleet", "devices", "--server", url], "eak_x");
        Assert.Equal(1, down.Exit);
        Assert.Contains($"cannot reach the fleet server at {url}", down.Stderr, StringComparison.Ordinal);

        var noServer = await RunAsync(["fleet", "devices"], "eak_x");
        Assert.Equal(1, noServer.Exit);
        Assert.Contains("EDGELLM_FLEET_SERVER", noServer.Stderr, StringComparison.Ordinal);

        var badExpiry = await FleetAsync("tokens", "create", "--expires", "tomorrow");
        Assert.Equal(1, badExpiry.Exit);
        Assert.Contains("--expires 'tomorrow'", badExpiry.Stderr, StringComparison.Ordinal);

        var badModel = await FleetAsync("device", "desired", "x", "--model", "qwen");
        Assert.Equal(1, badModel.Exit);
        Assert.Contains("NAME@VERSION", badModel.Stderr, StringComparison.Ordinal);

        // A server-side validation error comes back with the server's own message.
        var badUses = await FleetAsync("tokens", "create", "--uses", "100000000");
        Assert.Equal(1, badUses.Exit);
        Assert.StartsWith("edgellm: the fleet server refused the request: ", badUses.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Loadgen_with_20_devices_reports_zero_errors_and_the_server_stores_every_batch()
    {
        // Interval 2 s (60 s / 30), ticks due in [0, 4 s): every device makes exactly two polls and posts two batches; the
        // second poll is measured (due ≥ 1 s) and answered 304.
        var result = Json(await FleetAsync("loadgen", "--devices", "20", "--time-scale", "30", "--duration", "3", "--warmup", "1", "--batch-items", "10", "--json"));
        var stage = Assert.Single(result.GetProperty("stages").EnumerateArray());
        Assert.Equal(20, stage.GetProperty("devices").GetInt32());
        Assert.Equal(600, stage.GetProperty("real_time_equivalent_devices").GetInt64());
        Assert.Equal(20, stage.GetProperty("enroll").GetProperty("ok").GetInt64());
        foreach (var kind in new[] { "enroll", "desired", "telemetry" })
        {
            Assert.True(stage.GetProperty(kind).GetProperty("errors").GetInt64() == 0, stage.GetProperty(kind).ToString());
        }

        Assert.InRange(stage.GetProperty("telemetry").GetProperty("count").GetInt64(), 20, 40);
        Assert.True(stage.GetProperty("desired").GetProperty("not_modified").GetInt64() >= 20, stage.GetProperty("desired").ToString());
        Assert.True(stage.GetProperty("telemetry").GetProperty("p99_ms").GetDouble() > 0);

        var devices = Json(await FleetAsync("devices", "--json")).EnumerateArray()
            .Where(d => d.GetProperty("tags").EnumerateArray().Any(t => t.GetString() == "loadgen")).ToArray();
        Assert.Equal(20, devices.Length);
        var one = Json(await FleetAsync("device", "show", devices[0].GetProperty("device_id").GetString()!, "--json"));
        Assert.Equal(20, one.GetProperty("telemetry_count").GetInt64());
        Assert.Equal(20, one.GetProperty("last_seq").GetInt64());
    }
}
