using System.Net;
using System.Text.RegularExpressions;
using EdgeLlm.Contracts.Mqtt;

namespace EdgeLlm.IntegrationTests;

/// <summary>The agent with <c>Metrics:Enabled</c>, scraped over real HTTP after real questions over MQTT.</summary>
public sealed class MetricsEndpointTests
{
    private static async Task<string> ScrapeAsync(HttpClient http, int port)
    {
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("0.0.4", response.Content.Headers.ContentType?.Parameters.Single(p => p.Name == "version").Value);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of the one sample <paramref name="sample"/> (name and labels exactly as exposed), or null.</summary>
    private static double? Value(string text, string sample)
    {
        var m = Regex.Match(text, "^" + Regex.Escape(sample) + " (\\S+)$", RegexOptions.Multiline);
        return m.Success ? double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    [Fact]
    public async Task A_scrape_counts_answered_and_refused_questions_with_their_tokens_and_durations()
    {
        var port = TestModels.FreePort();
        await using var agent = await AgentFixture.StartAsync(new Dictionary<string, string?>
        {
            ["Metrics:Enabled"] = "true",
            ["Metrics:Listen"] = $"127.0.0.1:{port}",
        });
        using var http = new HttpClient { Timeout = TestModels.Patience };
        var before = await ScrapeAsync(http, port);
        Assert.Null(Value(before, """edgellm_questions_total{outcome="answered",priority="operator"}"""));
        Assert.Contains("# TYPE edgellm_answer_duration_seconds histogram", before, StringComparison.Ordinal);
        Assert.True(Value(before, "process_resident_memory_bytes") > 0);

        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.AskAsync("m1", "What is the maximum pressure?", maxTokens: 6, stream: false);
        var answer = Assert.IsType<AnswerMessage>(Assert.Single(await client.RepliesUntilFinalAsync("m1")));
        await client.PublishAskAsync("{not json");
        var error = Assert.IsType<ErrorMessage>(await client.NextReplyAsync());
        Assert.Equal(ErrorCodes.InvalidRequest, error.Code);

        // Both replies were counted before they were sent, so one scrape after them sees both.
        var after = await ScrapeAsync(http, port);
        Assert.Equal(1, Value(after, """edgellm_questions_total{outcome="answered",priority="operator"}"""));
        Assert.Equal(1, Value(after, """edgellm_questions_total{outcome="rejected",priority="operator"}"""));
        Assert.Equal(1, Value(after, """edgellm_mqtt_messages_refused_total{reason="malformed",topic="ask"}"""));
        Assert.Equal(answer.Usage.CompletionTokens, Value(after, "edgellm_tokens_completion_total"));
        Assert.Equal(answer.Usage.PromptTokens, Value(after, "edgellm_tokens_prompt_total"));
        Assert.Equal(1, Value(after, """edgellm_answer_duration_seconds_count{priority="operator"}"""));
        Assert.Equal(1, Value(after, """edgellm_answer_duration_seconds_bucket{priority="operator",le="+Inf"}"""));
        Assert.Equal(1, Value(after, "edgellm_answer_time_to_first_token_seconds_count"));
        Assert.Equal(1, Value(after, """edgellm_model_loads_total{outcome="loaded"}"""));
        Assert.Equal(0, Value(after, "edgellm_queue_depth"));
    }

    [Fact]
    public async Task With_metrics_off_the_port_stays_closed()
    {
        var port = TestModels.FreePort();
        await using var agent = await AgentFixture.StartAsync(new Dictionary<string, string?> { ["Metrics:Listen"] = $"127.0.0.1:{port}" });
        using var tcp = new System.Net.Sockets.TcpClient();
        await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => tcp.ConnectAsync(IPAddress.Loopback, port));
    }
}
