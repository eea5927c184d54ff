using System.CommandLine;
using EdgeLlm.Contracts.Mqtt;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm ask "question"`: asks a device over MQTT and streams the answer.</summary>
internal static class AskCommand
{
    public static Command Build()
    {
        var device = new DeviceClientOptions();
        var question = new Argument<string>("question") { Description = "The question." };
        var noStream = new Option<bool>("--no-stream") { Description = "Print the answer when it is complete instead of as it streams." };
        var mode = new Option<string?>("--mode") { Description = "auto (default), manuals, sensors or chat." };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Most tokens of the answer (default: the agent's limit)." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the answer.", DefaultValueFactory = _ => 300 };
        var json = CommonOptions.Json();
        var cmd = new Command("ask", "Ask a device a question over MQTT; the answer streams as it is generated.") { question, noStream, mode, maxTokens, timeout, json };
        device.AddTo(cmd);
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var asJson = parse.GetValue(json);
            var stream = !parse.GetValue(noStream) && !asJson;
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
            await using var client = await device.ConnectAsync(parse, limit.Token).ConfigureAwait(false);
            var ask = new AskRequest { Question = parse.GetValue(question), Mode = parse.GetValue(mode), MaxTokens = parse.GetValue(maxTokens), Stream = stream };
            var output = Console.Out;
            await foreach (var reply in client.AskAsync(ask, limit.Token).ConfigureAwait(false))
            {
                switch (reply)
                {
                    case ChunkMessage chunk:
                        await output.WriteAsync(chunk.Text).ConfigureAwait(false);
                        await output.FlushAsync(limit.Token).ConfigureAwait(false);
                        break;
                    case AnswerMessage answer when asJson:
                        await output.WriteLineAsync(System.Text.Json.JsonSerializer.Serialize<ReplyMessage>(answer, MqttJsonContext.Default.ReplyMessage)).ConfigureAwait(false);
                        break;
                    case AnswerMessage answer:
                        await output.WriteLineAsync(stream ? "" : answer.Text).ConfigureAwait(false);
                        foreach (var c in answer.Citations)
                        {
                            await output.WriteLineAsync($"  [{c.Source}{(c.Location is null ? "" : ", " + c.Location)}]").ConfigureAwait(false);
                        }

                        if (answer.Model.Synthesized)
                        {
                            await Console.Error.WriteLineAsync($"note: {answer.Model.Id} is a synthesized model with random weights; its answers are noise.").ConfigureAwait(false);
                        }

                        break;
                    case ErrorMessage error:
                        if (stream)
                        {
                            await output.WriteLineAsync().ConfigureAwait(false);
                        }

                        return CliOutput.Error(asJson, error.Code, $"{error.Code}: {error.Message}");
                }
            }

            return 0;
        }));
        return cmd;
    }
}
