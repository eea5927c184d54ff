using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Metrics;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests.Metrics;

/// <summary>The endpoint over real loopback sockets, with a collector of its own meter.</summary>
public sealed class MetricsServerTests : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly ServiceProvider _services;
    private readonly MetricsServer _server;

    public MetricsServerTests()
    {
        var services = new ServiceCollection().AddMetrics();
        services.AddSingleton(sp => new AgentMetrics(sp.GetRequiredService<IMeterFactory>(), TimeProvider.System, collect: true));
        _services = services.BuildServiceProvider();
        var options = new MetricsOptions { Enabled = true, Listen = $"127.0.0.1:{FreePort()}", MaxConnections = 2, RequestTimeoutSeconds = 1 };
        _server = new MetricsServer(Options.Create(options), _services, NullLogger<MetricsServer>.Instance);
    }

    public Task InitializeAsync()
    {
        var metrics = _services.GetRequiredService<AgentMetrics>();
        for (var i = 0; i < 3; i++)
        {
            metrics.Question(EdgeLlm.Runtime.Scheduling.RequestPriority.Operator, QuestionOutcomes.Answered);
        }

        return _server.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        using var stop = new CancellationTokenSource(Patience);
        await _server.StopAsync(stop.Token);
        Dispose();
        await _services.DisposeAsync();
    }

    public void Dispose() => _server.Dispose();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task<TcpClient> ConnectAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(_server.Endpoint!);
        return client;
    }

    /// <summary>Sends <paramref name="request"/> and reads until the server closes; "" when it closed without a word.</summary>
    private async Task<string> ExchangeAsync(string request)
    {
        using var client = await ConnectAsync();
        return await ExchangeAsync(client, request);
    }

    private static async Task<string> ExchangeAsync(TcpClient client, string request)
    {
        using var cts = new CancellationTokenSource(Patience);
        var stream = client.GetStream();
        if (request.Length > 0)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token);
        }

        using var response = new MemoryStream();
        try
        {
            await stream.CopyToAsync(response, cts.Token);
        }
        catch (IOException)
        {
            // A reset after the server closed: what was read is the answer.
        }

        return Encoding.UTF8.GetString(response.ToArray());
    }

    private static string Status(string response) => response.Split("\r\n", 2)[0];

    private static string Body(string response) => response.Split("\r\n\r\n", 2)[1];

    [Fact]
    public async Task Get_metrics_serves_the_text_format_with_its_content_type()
    {
        var response = await ExchangeAsync("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");

        Assert.Equal("HTTP/1.1 200 OK", Status(response));
        Assert.Contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n", response, StringComparison.Ordinal);
        Assert.Contains(
            "# TYPE edgellm_questions_total counter\nedgellm_questions_total{outcome=\"answered\",priority=\"operator\"} 3\n",
            Body(response), StringComparison.Ordinal);
        Assert.Contains($"\r\nContent-Length: {Encoding.UTF8.GetByteCount(Body(response))}\r\n", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Head_gets_the_headers_only_and_a_query_string_is_ignored()
    {
        var response = await ExchangeAsync("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n");

        Assert.Equal("HTTP/1.1 200 OK", Status(response));
        Assert.Equal("", Body(response));
        Assert.DoesNotContain("Content-Length: 0\r\n", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found")]
    [InlineData("GET /metrics/x HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found")]
    [InlineData("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed")]
    [InlineData("DELETE /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed")]
    [InlineData("hello\r\n\r\n", "HTTP/1.1 400 Bad Request")]
    [InlineData("GET /metrics SMTP/1.0\r\n\r\n", "HTTP/1.1 400 Bad Request")]
    [InlineData("get /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request")]
    [InlineData("GET  /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request")]
    [InlineData("\r\n\r\n", "HTTP/1.1 400 Bad Request")]
    public async Task Other_paths_methods_and_malformed_request_lines_are_refused(string request, string status)
    {
        var response = await ExchangeAsync(request);

        Assert.Equal(status, Status(response));
        Assert.Contains("\r\nConnection: close\r\n", response, StringComparison.Ordinal);
        Assert.DoesNotContain("edgellm_questions_total", response, StringComparison.Ordinal);
        if (status.Contains("405", StringComparison.Ordinal))
        {
            Assert.Contains("\r\nAllow: GET, HEAD\r\n", response, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_oversized_request_line_gets_414_and_oversized_headers_431()
    {
        var longLine = await ExchangeAsync("GET /metrics?" + new string('a', MetricsServer.MaxRequestBytes * 4));
        var longHeaders = await ExchangeAsync("GET /metrics HTTP/1.1\r\n" + string.Concat(Enumerable.Repeat("X-Filler: " + new string('b', 100) + "\r\n", 200)));

        Assert.Equal("HTTP/1.1 414 URI Too Long", Status(longLine));
        Assert.Equal("HTTP/1.1 431 Request Header Fields Too Large", Status(longHeaders));
    }

    [Fact]
    public async Task A_client_that_never_finishes_its_request_is_cut_off()
    {
        using var slow = await ConnectAsync();

        Assert.Equal("", await ExchangeAsync(slow, "GET /metr"));
    }

    [Fact]
    public async Task Connections_beyond_the_limit_are_closed_at_once_and_served_again_when_slots_free_up()
    {
        using var idle1 = await ConnectAsync();
        using var idle2 = await ConnectAsync();
        // The server accepts in arrival order: both slots are taken, so a complete request gets no answer at all.
        var refused = await ExchangeAsync("GET /metrics HTTP/1.1\r\n\r\n");
        Assert.Equal("", refused);

        Assert.Equal("", await ExchangeAsync(idle1, ""));
        Assert.Equal("", await ExchangeAsync(idle2, ""));
        Assert.Equal("HTTP/1.1 200 OK", Status(await ExchangeAsync("GET /metrics HTTP/1.1\r\n\r\n")));
    }

    [Fact]
    public async Task Off_by_default_nothing_listens()
    {
        var port = FreePort();
        var server = new MetricsServer(Options.Create(new MetricsOptions { Listen = $"127.0.0.1:{port}" }), _services, NullLogger<MetricsServer>.Instance);
        await server.StartAsync(CancellationToken.None);

        Assert.Null(server.Endpoint);
        using var client = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port));
        await server.StopAsync(CancellationToken.None);
        server.Dispose();
    }
}

public sealed class MetricsOptionsTests
{
    private static ValidateOptionsResult Validate(string listen, bool allowRemote = false) =>
        new MetricsOptionsRules().Validate(null, new MetricsOptions { Listen = listen, AllowRemote = allowRemote });

    [Theory]
    [InlineData("127.0.0.1:9464")]
    [InlineData("localhost:9464")]
    [InlineData("[::1]:9464")]
    [InlineData("127.0.0.2:1")]
    public void Loopback_addresses_are_accepted(string listen)
    {
        Assert.True(Validate(listen).Succeeded);
    }

    [Theory]
    [InlineData("0.0.0.0:9464")]
    [InlineData("192.168.1.20:9464")]
    [InlineData("[::]:9464")]
    public void A_non_loopback_address_needs_allow_remote(string listen)
    {
        var refused = Validate(listen);

        Assert.True(refused.Failed);
        Assert.Contains($"Metrics:Listen: {listen} is not a loopback address", refused.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Metrics:AllowRemote", refused.FailureMessage, StringComparison.Ordinal);
        Assert.True(Validate(listen, allowRemote: true).Succeeded);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("metrics.local:9464")]
    [InlineData("::1")]
    [InlineData("")]
    public void Listen_must_be_an_address_and_a_port(string listen)
    {
        var refused = Validate(listen);

        Assert.True(refused.Failed);
        Assert.Contains("is not ADDRESS:PORT", refused.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void The_agent_refuses_to_start_with_metrics_on_a_non_loopback_address_without_allow_remote()
    {
        using var dir = TestPaths.NewTempDir();
        var builder = AgentHost.CreateBuilder(new AgentSwitches
        {
            DataDir = dir.Path,
            Model = AgentOptions.NoModel,
            Settings = new Dictionary<string, string?> { ["Metrics:Enabled"] = "true", ["Metrics:Listen"] = "0.0.0.0:9464" },
        });
        using var host = builder.Build();

        var ex = Assert.Throws<OptionsValidationException>(() => AgentHost.ValidateOptions(host.Services));
        Assert.Equal(typeof(MetricsOptions), ex.OptionsType);
        Assert.Contains("Metrics:Listen: 0.0.0.0:9464 is not a loopback address", ex.Message, StringComparison.Ordinal);
    }
}
