using System.Buffers.Binary;
using System.Net;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Api;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Fleet.Tests.Dashboard;

/// <summary>The dashboard in real headless Chromium, driven over WebDriver, against the real server.</summary>
[Collection(PostgresClusterDefinition.Name)]
public sealed class DashboardTests(PostgresFixture postgres)
{
    private const string HostileTag = "<img src=x onerror=\"document.title='pwned'\">";
    private const string HostileError = "<script>document.title='pwned'</script>inference failed & stopped";

    [Fact]
    public async Task Sign_in_shows_devices_and_errors_as_text_and_a_screenshot_is_taken()
    {
        var ct = CancellationToken.None;
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var viewer = await server.CreateKeyAsync(FleetRoles.Viewer, "dashboard-viewer");
        var pump = await server.EnrollAsync("pump-01", "site-a", HostileTag);
        await server.EnrollAsync("sensor-02", "line-3");
        var reported = new ReportedState
        {
            Model = new ArtifactRef { Name = "qwen2.5-0.5b", Version = "1.4.2" },
            AgentVersion = "0.6.0",
            Health = "degraded",
            State = "ready",
        };
        using (var put = await pump.Http.PutAsync(FleetRoutes.Reported, FleetTestServer.Json(reported, FleetJsonContext.Default.ReportedState)))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        var errorData = JsonDocument.Parse(JsonSerializer.Serialize(new Dictionary<string, string> { ["message"] = HostileError })).RootElement;
        await TelemetryTests.PostAsync(pump.Http, new TelemetryBatch
        {
            Items = [new TelemetryItem { Seq = 1, Ts = server.Time.GetUtcNow().AddMinutes(-3), Kind = TelemetryKinds.Event, Name = "inference_error", Data = errorData }],
        });

        await using var browser = await WebDriver.StartAsync(ct);
        await browser.SetWindowSizeAsync(1280, 900, ct);
        await browser.NavigateAsync(server.BaseUri, ct);
        await browser.TypeAsync(await browser.WaitForAsync("/login", "#api_key", ct), "eak_wrongwrongwrongwrongwrongwrongwrongwrongwro", ct);
        await browser.ClickAsync(await browser.FindAsync("#sign-in", ct), ct);
        Assert.Contains("unknown or revoked", await browser.TextAsync(await browser.WaitForAsync("/login", "#login-error", ct), ct));

        await browser.TypeAsync(await browser.FindAsync("#api_key", ct), viewer.Key!, ct);
        await browser.ClickAsync(await browser.FindAsync("#sign-in", ct), ct);
        Assert.Equal("dashboard-viewer", await browser.TextAsync(await browser.WaitForAsync("/", "#who", ct), ct));

        Assert.Equal("pump-01", await browser.TextAsync(await browser.FindAsync("tr[data-device='pump-01'] .device-id", ct), ct));
        Assert.Equal("degraded", await browser.TextAsync(await browser.FindAsync("tr[data-device='pump-01'] .health", ct), ct));
        Assert.Equal("qwen2.5-0.5b 1.4.2", await browser.TextAsync(await browser.FindAsync("tr[data-device='pump-01'] .model", ct), ct));
        Assert.Equal("0.6.0", await browser.TextAsync(await browser.FindAsync("tr[data-device='pump-01'] .agent", ct), ct));
        Assert.Equal("unknown", await browser.TextAsync(await browser.FindAsync("tr[data-device='sensor-02'] .health", ct), ct));
        Assert.Equal("2", await browser.TextAsync(await browser.FindAsync("#count-devices b", ct), ct));

        var tags = await browser.TryFindAllAsync("tr[data-device='pump-01'] .tag", ct);
        Assert.Equal(["site-a", HostileTag], await Task.WhenAll(tags.Select(t => browser.TextAsync(t, ct))));
        Assert.Equal(HostileError, await browser.TextAsync(await browser.FindAsync("#errors .error-message", ct), ct));
        Assert.Empty(await browser.TryFindAllAsync("main img, main script", ct));
        Assert.Equal("Fleet · EdgeLLM fleet", (await browser.ExecuteAsync("return document.title;", ct))!.GetValue<string>());
        Assert.False((await browser.ExecuteAsync("return document.cookie.includes('eak_');", ct))!.GetValue<bool>(), "the session cookie must be HttpOnly");

        var png = await browser.ScreenshotAsync(ct);
        var folder = Path.Combine(TestPaths.RepoRoot, "TestResults");
        Directory.CreateDirectory(folder);
        await File.WriteAllBytesAsync(Path.Combine(folder, "dashboard.png"), png, ct);
        AssertPng(png, minWidth: 640, minHeight: 400);

        await browser.ClickAsync(await browser.FindAsync("#sign-out", ct), ct);
        await browser.WaitForAsync("/login", "#login-form", ct);
        await browser.NavigateAsync(server.BaseUri, ct);
        await browser.WaitForAsync("/login", "#login-form", ct);
        Assert.Empty(await browser.TryFindAllAsync("#who", ct));
    }

    [Fact]
    public async Task Forms_without_the_csrf_token_or_from_another_origin_are_refused_and_revoked_keys_end_the_session()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var browser = new HttpClient(handler) { BaseAddress = server.BaseUri };

        using (var anonymous = await browser.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
            Assert.Equal("/login", anonymous.Headers.Location?.OriginalString);
        }

        using var loginPage = await browser.GetAsync("/login");
        var html = await loginPage.Content.ReadAsStringAsync();
        var csrf = System.Text.RegularExpressions.Regex.Match(html, "name=\"csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(csrf);
        var setCookie = string.Join(";", loginPage.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);

        using (var noToken = await browser.PostAsync("/login", new FormUrlEncodedContent([new("api_key", server.AdminKey)])))
        {
            Assert.Equal(HttpStatusCode.Forbidden, noToken.StatusCode);
        }

        using (var crossOrigin = new HttpRequestMessage(HttpMethod.Post, "/login") { Content = new FormUrlEncodedContent([new("api_key", server.AdminKey), new("csrf", csrf)]) })
        {
            crossOrigin.Headers.Add("Origin", "http://evil.example");
            using var refused = await browser.SendAsync(crossOrigin);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        var key = await server.CreateKeyAsync(FleetRoles.Viewer, "short-lived");
        using (var login = await browser.PostAsync("/login", new FormUrlEncodedContent([new("api_key", key.Key!), new("csrf", csrf)])))
        {
            Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
            var cookie = string.Join(";", login.Headers.GetValues("Set-Cookie"));
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        }

        using (var page = await browser.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
        }

        using (var revoke = await server.Admin.DeleteAsync($"{FleetRoutes.Keys}/{key.Id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        using (var after = await browser.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        }

        using (var hostile = await browser.PostAsync("/login", new ByteArrayContent([0xFF, 0xFE, 0x00]) { Headers = { ContentType = new("application/x-www-form-urlencoded") } }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, hostile.StatusCode);
        }
    }

    /// <summary>A PNG signature, an IHDR of at least this size, and more than a blank image's worth of data.</summary>
    private static void AssertPng(byte[] png, int minWidth, int minHeight)
    {
        Assert.True(png.Length > 10_000, $"the screenshot is only {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.True(BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)) >= minWidth);
        Assert.True(BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)) >= minHeight);
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(png, png.Length - 8, 4));
    }
}
