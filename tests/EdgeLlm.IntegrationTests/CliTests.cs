using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace EdgeLlm.IntegrationTests;

/// <summary>`edgellm ask` and `edgellm status` (the real executable) against a running agent.</summary>
public sealed class CliTests
{
    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args) => Fleet.DeviceCli.RunAsync(args);

    [Fact]
    public async Task Ask_streams_the_answer_and_json_prints_the_answer_message()
    {
        await using var agent = await AgentFixture.StartAsync();
        var broker = $"127.0.0.1:{agent.Port.ToString(CultureInfo.InvariantCulture)}";

        var (exit, stdout, stderr) = await RunAsync("ask", "What is the pressure limit?", "--device", agent.DeviceId, "--broker", broker, "--max-tokens", "8");
        Assert.True(exit == 0, stderr);
        Assert.False(string.IsNullOrWhiteSpace(stdout));
        Assert.Contains("synthesized", stderr, StringComparison.Ordinal);

        (exit, stdout, stderr) = await RunAsync("ask", "Again?", "--device", agent.DeviceId, "--broker", broker, "--max-tokens", "4", "--json");
        Assert.True(exit == 0, stderr);
        var answer = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("answer", answer.GetProperty("type").GetString());
        Assert.Equal("tiny-qwen2", answer.GetProperty("model").GetProperty("id").GetString());

        (exit, _, stderr) = await RunAsync("ask", "Bad?", "--device", agent.DeviceId, "--broker", broker, "--mode", "telepathy");
        Assert.Equal(1, exit);
        Assert.Contains("invalid_request", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_reads_the_retained_status()
    {
        await using var agent = await AgentFixture.StartAsync();
        var (exit, stdout, stderr) = await RunAsync("status", "--device", agent.DeviceId, "--broker", $"127.0.0.1:{agent.Port.ToString(CultureInfo.InvariantCulture)}", "--json");
        Assert.True(exit == 0, stderr);
        var status = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("ready", status.GetProperty("state").GetString());
        Assert.Equal(0, status.GetProperty("queue_depth").GetInt32());

        (exit, _, stderr) = await RunAsync("status", "--device", "no-such-device", "--broker", $"127.0.0.1:{agent.Port.ToString(CultureInfo.InvariantCulture)}", "--wait", "1");
        Assert.Equal(1, exit);
        Assert.Contains("no status retained", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_without_a_broker_names_the_address()
    {
        var port = TestModels.FreePort().ToString(CultureInfo.InvariantCulture);
        var (exit, _, stderr) = await RunAsync("ask", "Anyone?", "--device", "x", "--broker", $"127.0.0.1:{port}");
        Assert.Equal(1, exit);
        Assert.Contains($"127.0.0.1:{port}", stderr, StringComparison.Ordinal);
    }
}
