using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeLlm.Fleet.Tests.Support;

namespace EdgeLlm.Fleet.Tests.Dashboard;

/// <summary>
/// A small W3C WebDriver client for Debian's chromedriver and headless chromium: starts chromedriver on a free loopback
/// port as a child process (killed by its PID), opens one session with its own profile folder, and speaks the protocol
/// over <see cref="HttpClient"/>.
/// </summary>
internal sealed class WebDriver : IAsyncDisposable
{
    public const string ChromeDriver = "/usr/bin/chromedriver";
    public const string Chromium = "/usr/bin/chromium";
    private const string ElementKey = "element-6066-11e4-a52e-4f735466cecf";

    private readonly Process _driver;
    private readonly HttpClient _http;
    private readonly string _profile;
    private string? _session;

    private WebDriver(Process driver, HttpClient http, string profile)
    {
        _driver = driver;
        _http = http;
        _profile = profile;
    }

    public static async Task<WebDriver> StartAsync(CancellationToken cancellationToken)
    {
        foreach (var file in new[] { ChromeDriver, Chromium })
        {
            if (!File.Exists(file))
            {
                throw new InvalidOperationException($"{file} is missing: apt-get install chromium chromium-driver");
            }
        }

        var port = FleetServerProcess.FreePort();
        var info = new ProcessStartInfo(ChromeDriver) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add($"--port={port}");
        info.ArgumentList.Add("--allowed-ips=127.0.0.1");
        var driver = Process.Start(info) ?? throw new InvalidOperationException("chromedriver did not start");
        driver.OutputDataReceived += (_, _) => { };
        driver.ErrorDataReceived += (_, _) => { };
        driver.BeginOutputReadLine();
        driver.BeginErrorReadLine();
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        var profile = Path.Combine(Path.GetTempPath(), "edgellm-chromium-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(profile);
        var webDriver = new WebDriver(driver, http, profile);
        try
        {
            await webDriver.WaitReadyAsync(cancellationToken);
            await webDriver.CreateSessionAsync(cancellationToken);
            return webDriver;
        }
        catch
        {
            await webDriver.DisposeAsync();
            throw;
        }
    }

    public Task NavigateAsync(Uri url, CancellationToken cancellationToken) =>
        CommandAsync(HttpMethod.Post, "url", new JsonObject { ["url"] = url.ToString() }, cancellationToken);

    public async Task<Uri> CurrentUrlAsync(CancellationToken cancellationToken) =>
        new((await CommandAsync(HttpMethod.Get, "url", null, cancellationToken))!.GetValue<string>());

    /// <summary>The first element matching the CSS selector; throws (with the page source) when there is none.</summary>
    public async Task<string> FindAsync(string css, CancellationToken cancellationToken)
    {
        var found = await TryFindAllAsync(css, cancellationToken);
        return found.Count > 0 ? found[0] : throw new InvalidOperationException($"No element matches '{css}' on:\n{await SourceAsync(cancellationToken)}");
    }

    /// <summary>
    /// Waits (polling, at most <paramref name="within"/> or 10 s) until the page is at <paramref name="path"/> and has an
    /// element matching <paramref name="css"/>: a click on a submit button returns before the next page has loaded.
    /// </summary>
    public async Task<string> WaitForAsync(string path, string css, CancellationToken cancellationToken, TimeSpan? within = null)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 500; attempt++)
        {
            if ((await CurrentUrlAsync(cancellationToken)).AbsolutePath == path && await TryFindAllAsync(css, cancellationToken) is [var first, ..])
            {
                return first;
            }

            if (clock.Elapsed > (within ?? TimeSpan.FromSeconds(10)))
            {
                break;
            }

            await Task.Delay(20, cancellationToken);
        }

        throw new TimeoutException($"No page at '{path}' with '{css}'; at {await CurrentUrlAsync(cancellationToken)}:\n{await SourceAsync(cancellationToken)}");
    }

    public async Task<IReadOnlyList<string>> TryFindAllAsync(string css, CancellationToken cancellationToken)
    {
        var result = await CommandAsync(HttpMethod.Post, "elements", new JsonObject { ["using"] = "css selector", ["value"] = css }, cancellationToken);
        return [.. result!.AsArray().Select(e => e![ElementKey]!.GetValue<string>())];
    }

    public async Task<string> TextAsync(string element, CancellationToken cancellationToken) =>
        (await CommandAsync(HttpMethod.Get, $"element/{element}/text", null, cancellationToken))!.GetValue<string>();

    public Task TypeAsync(string element, string text, CancellationToken cancellationToken) =>
        CommandAsync(HttpMethod.Post, $"element/{element}/value", new JsonObject { ["text"] = text }, cancellationToken);

    public Task ClickAsync(string element, CancellationToken cancellationToken) =>
        CommandAsync(HttpMethod.Post, $"element/{element}/click", new JsonObject(), cancellationToken);

    public async Task<string> SourceAsync(CancellationToken cancellationToken) =>
        (await CommandAsync(HttpMethod.Get, "source", null, cancellationToken))!.GetValue<string>();

    /// <summary>Runs a script in the page and returns its result as JSON.</summary>
    public Task<JsonNode?> ExecuteAsync(string script, CancellationToken cancellationToken) =>
        CommandAsync(HttpMethod.Post, "execute/sync", new JsonObject { ["script"] = script, ["args"] = new JsonArray() }, cancellationToken);

    public Task SetWindowSizeAsync(int width, int height, CancellationToken cancellationToken) =>
        CommandAsync(HttpMethod.Post, "window/rect", new JsonObject { ["width"] = width, ["height"] = height }, cancellationToken);

    /// <summary>A PNG of the viewport.</summary>
    public async Task<byte[]> ScreenshotAsync(CancellationToken cancellationToken) =>
        Convert.FromBase64String((await CommandAsync(HttpMethod.Get, "screenshot", null, cancellationToken))!.GetValue<string>());

    public async ValueTask DisposeAsync()
    {
        if (_session is not null)
        {
            try
            {
                using var response = await _http.DeleteAsync($"/session/{_session}");
            }
            catch (HttpRequestException)
            {
                // chromedriver is gone already; it is killed below either way.
            }
        }

        if (!_driver.HasExited)
        {
            _driver.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _driver.WaitForExitAsync(timeout.Token);
        }

        _driver.Dispose();
        _http.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // Chromium may still be closing files; the folder is in /tmp.
        }
    }

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 1000 && clock.Elapsed < TimeSpan.FromSeconds(30); attempt++)
        {
            if (_driver.HasExited)
            {
                throw new InvalidOperationException($"chromedriver exited with code {_driver.ExitCode}");
            }

            try
            {
                var status = await _http.GetFromJsonAsync<JsonNode>("/status", cancellationToken);
                if (status?["value"]?["ready"]?.GetValue<bool>() == true)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new TimeoutException("chromedriver did not become ready within 30 s");
    }

    private async Task CreateSessionAsync(CancellationToken cancellationToken)
    {
        var args = new JsonArray(
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,900",
            $"--user-data-dir={_profile}");
        var capabilities = new JsonObject
        {
            ["capabilities"] = new JsonObject
            {
                ["alwaysMatch"] = new JsonObject
                {
                    ["browserName"] = "chrome",
                    ["goog:chromeOptions"] = new JsonObject { ["binary"] = Chromium, ["args"] = args },
                },
            },
        };
        using var response = await _http.PostAsync("/session", Content(capabilities), cancellationToken);
        var body = await Parse(response, cancellationToken);
        _session = body["value"]!["sessionId"]!.GetValue<string>();
    }

    private async Task<JsonNode?> CommandAsync(HttpMethod method, string path, JsonObject? payload, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, $"/session/{_session}/{path}");
        if (payload is not null)
        {
            request.Content = Content(payload);
        }

        using var response = await _http.SendAsync(request, cancellationToken);
        return (await Parse(response, cancellationToken))["value"];
    }

    private static async Task<JsonNode> Parse(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var json = JsonNode.Parse(text) ?? throw new InvalidOperationException("chromedriver sent no JSON");
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"WebDriver error {(int)response.StatusCode}: {json["value"]?["message"]?.GetValue<string>() ?? text}");
        }

        return json;
    }

    private static StringContent Content(JsonNode payload) =>
        new(payload.ToJsonString(JsonSerializerOptions.Default), System.Text.Encoding.UTF8, "application/json");
}
