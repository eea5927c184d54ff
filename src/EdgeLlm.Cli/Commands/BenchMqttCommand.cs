using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Synthesis;
using Microsoft.Extensions.Hosting;

namespace EdgeLlm.Cli.Commands;

/// <summary>
/// `edgellm bench-mqtt`: what the MQTT path adds to an answer. Starts a real agent (embedded broker on a free loopback
/// port, a temporary data folder) and measures ask-to-first-chunk and ask-to-answer on the client minus the engine's own
/// time (its time to first token; for the answer, also its decode time), then answers/s with concurrent clients.
/// </summary>
internal static class BenchMqttCommand
{
    public static Command Build()
    {
        var model = new Option<string?>("--model") { Description = "Model folder (default: a tiny synthesized qwen2 model in a temporary folder)." };
        var requests = new Option<int>("--requests") { Description = "Sequential requests for the latency figures.", DefaultValueFactory = _ => 200 };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients for the throughput figure.", DefaultValueFactory = _ => 8 };
        var perClient = new Option<int>("--per-client") { Description = "Requests each concurrent client sends.", DefaultValueFactory = _ => 25 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Answer length in tokens.", DefaultValueFactory = _ => 16 };
        var json = CommonOptions.Json();
        var cmd = new Command("bench-mqtt", "Measure the agent's MQTT overhead (latency minus engine time) and answers/s with concurrent clients.")
        {
            model, requests, clients, perClient, maxTokens, json,
        };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var n = parse.GetValue(requests);
            var c = parse.GetValue(clients);
            var m = parse.GetValue(perClient);
            var tokens = parse.GetValue(maxTokens);
            if (n < 1 || c < 1 || m < 1 || tokens < 1)
            {
                throw new ArgumentException("--requests, --clients, --per-client and --max-tokens must be at least 1");
            }

            var temp = Path.Combine(Path.GetTempPath(), "edgellm-bench-mqtt-" + Guid.NewGuid().ToString("n")[..8]);
            try
            {
                var folder = parse.GetValue(model);
                if (folder is null)
                {
                    folder = Path.Combine(temp, "tiny-qwen2");
                    ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", folder, 1));
                }

                var port = FreePort();
                var switches = new AgentSwitches
                {
                    DeviceId = "bench",
                    DataDir = Path.Combine(temp, "data"),
                    Model = folder,
                    Broker = "embedded",
                    BrokerPort = port,
                    Settings = new Dictionary<string, string?>
                    {
                        ["Logging:LogLevel:Default"] = "Warning",
                        ["Agent:QueueCapacity"] = (c * 2).ToString(CultureInfo.InvariantCulture),
                        ["Agent:QueryLog"] = "false",
                    },
                };
                using var host = AgentHost.CreateBuilder(switches).Build();
                AgentHost.ValidateOptions(host.Services);
                await host.StartAsync(ct).ConfigureAwait(false);
                try
                {
                    var result = await RunAsync(port, n, c, m, tokens, ct).ConfigureAwait(false);
                    if (parse.GetValue(json))
                    {
                        CliOutput.WriteJson(result);
                    }
                    else
                    {
                        Console.WriteLine($"{n} sequential asks, {tokens} tokens each, embedded broker on loopback:");
                        Console.WriteLine($"  first chunk overhead: p50 {result.FirstChunkOverheadP50Ms:F2} ms, p99 {result.FirstChunkOverheadP99Ms:F2} ms (engine ttft p50 {result.EngineTtftP50Ms:F2} ms)");
                        Console.WriteLine($"  answer overhead:      p50 {result.AnswerOverheadP50Ms:F2} ms, p99 {result.AnswerOverheadP99Ms:F2} ms");
                        Console.WriteLine($"{c} concurrent clients x {m} asks: {result.AnswersPerSecond:F1} answers/s, {result.Busy} busy");
                    }
                }
                finally
                {
                    await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
                }

                return 0;
            }
            finally
            {
                if (Directory.Exists(temp))
                {
                    Directory.Delete(temp, recursive: true);
                }
            }
        }));
        return cmd;
    }

    internal sealed record BenchMqttResult(
        int Requests,
        double FirstChunkOverheadP50Ms,
        double FirstChunkOverheadP99Ms,
        double AnswerOverheadP50Ms,
        double AnswerOverheadP99Ms,
        double EngineTtftP50Ms,
        int Clients,
        int Answers,
        int Busy,
        double AnswersPerSecond);

    private static async Task<BenchMqttResult> RunAsync(int port, int requests, int clients, int perClient, int tokens, CancellationToken ct)
    {
        var firstOverhead = new List<double>();
        var answerOverhead = new List<double>();
        var ttft = new List<double>();
        await using (var client = await DeviceClient.ConnectAsync("127.0.0.1", port, "bench", null, null, ct).ConfigureAwait(false))
        {
            // Warm-up: JIT and first-run allocations are not the steady state being measured.
            for (var i = 0; i < 10; i++)
            {
                await AskOnceAsync(client, tokens, ct).ConfigureAwait(false);
            }

            for (var i = 0; i < requests; i++)
            {
                var (first, total, answer) = await AskOnceAsync(client, tokens, ct).ConfigureAwait(false);
                var engineMs = answer.Usage.TtftMs + (answer.Usage.TokensPerS > 0 ? (answer.Usage.CompletionTokens - 1) / answer.Usage.TokensPerS * 1000 : 0);
                firstOverhead.Add(first - answer.Usage.TtftMs);
                answerOverhead.Add(total - engineMs);
                ttft.Add(answer.Usage.TtftMs);
            }
        }

        var connections = new List<DeviceClient>();
        try
        {
            for (var i = 0; i < clients; i++)
            {
                connections.Add(await DeviceClient.ConnectAsync("127.0.0.1", port, "bench", null, null, ct).ConfigureAwait(false));
            }

            var answers = 0;
            var busy = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(connections.Select(async conn =>
            {
                for (var i = 0; i < perClient; i++)
                {
                    await foreach (var reply in conn.AskAsync(new AskRequest { Question = "What is the maximum pressure of the pump?", MaxTokens = tokens, Temperature = 0 }, ct).ConfigureAwait(false))
                    {
                        if (reply is AnswerMessage)
                        {
                            Interlocked.Increment(ref answers);
                        }
                        else if (reply is ErrorMessage { Code: ErrorCodes.Busy })
                        {
                            Interlocked.Increment(ref busy);
                        }
                    }
                }
            })).ConfigureAwait(false);
            clock.Stop();
            return new BenchMqttResult(requests, Percentile(firstOverhead, 0.5), Percentile(firstOverhead, 0.99), Percentile(answerOverhead, 0.5),
                Percentile(answerOverhead, 0.99), Percentile(ttft, 0.5), clients, answers, busy, Math.Round(answers / clock.Elapsed.TotalSeconds, 1));
        }
        finally
        {
            foreach (var conn in connections)
            {
                await conn.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<(double FirstMs, double TotalMs, AnswerMessage Answer)> AskOnceAsync(DeviceClient client, int tokens, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        double? first = null;
        await foreach (var reply in client.AskAsync(new AskRequest { Question = "What is the maximum pressure of the pump?", MaxTokens = tokens, Temperature = 0 }, ct).ConfigureAwait(false))
        {
            var at = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            switch (reply)
            {
                case ChunkMessage:
                    first ??= at;
                    break;
                case AnswerMessage answer:
                    return (first ?? at, at, answer);
                case ErrorMessage error:
                    throw new InvalidOperationException($"the agent answered {error.Code}: {error.Message}");
            }
        }

        throw new InvalidOperationException("the reply stream ended without an answer");
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        var index = (int)Math.Ceiling(p * sorted.Length) - 1;
        return Math.Round(sorted[Math.Clamp(index, 0, sorted.Length - 1)], 3);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
