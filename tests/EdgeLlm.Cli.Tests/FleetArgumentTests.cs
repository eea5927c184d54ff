using System.Net;
using System.Text;
using EdgeLlm.Cli.Commands.Fleet;

namespace EdgeLlm.Cli.Tests;

/// <summary>The operator CLI's argument forms, its error wording and the load generator's histogram.</summary>
public sealed class FleetArgumentTests
{
    [Theory]
    [InlineData("1d", 86_400)]
    [InlineData("12h", 43_200)]
    [InlineData("30m", 1_800)]
    [InlineData("3600s", 3_600)]
    [InlineData("3600", 3_600)]
    [InlineData(" 2D ", 172_800)]
    public void ParseDuration_accepts_days_hours_minutes_seconds(string text, long seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), FleetArguments.ParseDuration(text, "--expires"));

    [Theory]
    [InlineData("")]
    [InlineData("d")]
    [InlineData("0h")]
    [InlineData("-1d")]
    [InlineData("1.5h")]
    [InlineData("1w")]
    [InlineData("1 d")]
    [InlineData("99999999999999999999d")]
    [InlineData("9999999999999d")]
    public void ParseDuration_refuses_anything_else_and_names_the_option(string text)
    {
        var ex = Assert.Throws<ArgumentException>(() => FleetArguments.ParseDuration(text, "--expires"));
        Assert.StartsWith($"--expires '{text}'", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("qwen2.5-0.5b-int4@1.2.0", "qwen2.5-0.5b-int4", "1.2.0")]
    [InlineData("org@team/model@2", "org@team/model", "2")]
    public void ParseArtifact_splits_at_the_last_at_sign(string text, string name, string version)
    {
        var artifact = FleetArguments.ParseArtifact(text, "--model");
        Assert.Equal(name, artifact.Name);
        Assert.Equal(version, artifact.Version);
        Assert.Null(artifact.Sha256);
    }

    [Theory]
    [InlineData("qwen")]
    [InlineData("@1.0")]
    [InlineData("qwen@")]
    [InlineData("qwen @1.0")]
    [InlineData("")]
    public void ParseArtifact_refuses_what_is_not_NAME_at_VERSION(string text)
    {
        var ex = Assert.Throws<ArgumentException>(() => FleetArguments.ParseArtifact(text, "--adapter"));
        Assert.Contains("NAME@VERSION", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loadgen_stages_come_from_devices_or_steps_but_not_both()
    {
        Assert.Equal([1000, 2500, 5000, 10000], FleetLoadgenCommand.Stages(null, "1000, 2500,5000,10000"));
        Assert.Equal([20], FleetLoadgenCommand.Stages(20, null));
        Assert.Throws<ArgumentException>(() => FleetLoadgenCommand.Stages(20, "1,2"));
        Assert.Throws<ArgumentException>(() => FleetLoadgenCommand.Stages(null, null));
        Assert.Throws<ArgumentException>(() => FleetLoadgenCommand.Stages(null, "1,,2"));
        Assert.Throws<ArgumentException>(() => FleetLoadgenCommand.Stages(0, null));
        Assert.Equal(new Dictionary<string, int> { ["server"] = 42 }, FleetLoadgenCommand.Watches(["server=42"]));
        Assert.Throws<ArgumentException>(() => FleetLoadgenCommand.Watches(["server"]));
    }

    [Fact]
    public void Loadgen_refuses_an_interval_below_50_ms()
    {
        var ex = Assert.Throws<ArgumentException>(() => FleetLoadgenCommand.Validate(new LoadgenOptions { Stages = [1], PeriodSeconds = 1, TimeScale = 100 }));
        Assert.Contains("50 ms", ex.Message, StringComparison.Ordinal);
        FleetLoadgenCommand.Validate(new LoadgenOptions { Stages = [10_000], PeriodSeconds = 60, TimeScale = 10 });
    }

    [Theory]
    [InlineData("fleet", "--server", "http://127.0.0.1:9/", "--admin-key", "eak_x", "devices", "--json")]
    [InlineData("fleet", "devices", "--json", "--server", "http://127.0.0.1:9/", "--admin-key", "eak_x")]
    [InlineData("fleet", "--json", "device", "--server", "http://127.0.0.1:9/", "desired", "dev-1", "--model", "m@1", "--adapter", "a@1", "--adapter", "b@2", "--admin-key", "eak_x")]
    [InlineData("fleet", "--server", "http://127.0.0.1:9/", "tokens", "create", "--uses", "5", "--expires", "12h", "--tag", "a", "--tag", "b", "--admin-key", "eak_x")]
    public void Fleet_options_parse_before_or_after_the_subcommand(params string[] args)
    {
        var parse = CliApp.Build().Parse(args);
        Assert.Empty(parse.Errors);
        Assert.Equal("http://127.0.0.1:9/", parse.GetValue<string>("--server"));
        Assert.Equal("eak_x", parse.GetValue<string>("--admin-key"));
    }

    [Fact]
    public void Server_url_must_be_http_and_gets_its_trailing_slash()
    {
        var connection = new FleetConnection();
        var root = new System.CommandLine.RootCommand();
        connection.AddTo(root);
        Assert.Equal("http://h:1/base/", connection.ServerUri(root.Parse(["--server", "http://h:1/base"])).ToString());
        var ex = Assert.Throws<ArgumentException>(() => connection.ServerUri(root.Parse(["--server", "ftp://h"])));
        Assert.Contains("ftp://h", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "", "admin key refused")]
    [InlineData(HttpStatusCode.Forbidden, """{"error":{"code":"forbidden","message":"needs operator"}}""", "your key's role may not list devices")]
    [InlineData(HttpStatusCode.NotFound, """{"error":{"code":"not_found","message":"no device has id 'x'"}}""", "no device has id 'x'")]
    [InlineData(HttpStatusCode.BadRequest, """{"error":{"code":"invalid_request","message":"uses must be 1 to 100000"}}""", "uses must be 1 to 100000")]
    [InlineData(HttpStatusCode.RequestEntityTooLarge, """{"error":{"code":"too_large","message":"body over 64 KiB"}}""", "body over 64 KiB")]
    [InlineData(HttpStatusCode.BadGateway, "<html>proxy</html>", "answered 502 BadGateway")]
    public async Task Errors_become_one_clear_line(HttpStatusCode status, string body, string expected)
    {
        using var handler = new FixedResponseHandler(status, body);
        using var client = new FleetAdminClient(new Uri("http://fleet.test/"), "eak_x", handler);
        var ex = await Assert.ThrowsAsync<FleetApiException>(() => client.ListDevicesAsync(CancellationToken.None));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.Equal("Bearer eak_x", handler.Authorization);
        Assert.Equal("/api/v1/devices", handler.Path);
    }

    [Fact]
    public void Histogram_percentiles_are_within_one_percent_and_the_max_is_exact()
    {
        var histogram = new LatencyHistogram();
        for (var us = 1; us <= 100_000; us++)
        {
            histogram.RecordMicros(us);
        }

        Assert.Equal(100_000, histogram.Count);
        Assert.Equal(100_000, histogram.MaxMicros);
        Assert.InRange(histogram.PercentileMicros(0.50), 50_000, 50_000 * 1.008);
        Assert.InRange(histogram.PercentileMicros(0.99), 99_000, 99_000 * 1.008);
        foreach (var v in new[] { 0L, 1, 255, 256, 257, 1_000_000, long.MaxValue / 2 })
        {
            Assert.InRange(LatencyHistogram.UpperBound(LatencyHistogram.Index(v)), v, v + v / 128 + 1);
        }

        Assert.Equal(0, new LatencyHistogram().PercentileMicros(0.99));
    }

    private sealed class FixedResponseHandler(HttpStatusCode status, string body) : HttpMessageHandler
    {
        public string? Authorization { get; private set; }

        public string? Path { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Authorization = request.Headers.Authorization?.ToString();
            Path = request.RequestUri?.AbsolutePath;
            return Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") });
        }
    }
}
