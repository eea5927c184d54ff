using System.CommandLine;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.ChatTemplates;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm generate`: one prompt in, the generated text out (streamed, or as JSON).</summary>
internal static class GenerateCommand
{
    public static Command Build()
    {
        var loading = new ModelLoading();
        var sampling = new SamplingOptions();
        var prompt = new Option<string>("--prompt", "-p") { Description = "The prompt.", Required = true };
        var chat = new Option<bool>("--chat") { Description = "Wrap the prompt as a user turn with the model's chat template (default: the raw prompt, tokenized as Hugging Face's encode does)." };
        var system = new Option<string?>("--system") { Description = "System prompt (with --chat)." };
        var json = CommonOptions.Json();
        var cmd = new Command("generate", "Generate text after a prompt.") { prompt, chat, system, json };
        loading.AddTo(cmd);
        sampling.AddTo(cmd);
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            using var loggers = loading.Loggers(parse);
            using var model = loading.Load(parse, loggers);
            sampling.LoadAdapterFile(parse, model);
            var text = parse.GetValue(prompt)!;
            var ids = parse.GetValue(chat)
                ? model.EncodeChat(Conversation(parse.GetValue(system), text))
                : model.EncodeRaw(text);
            var request = new TextRequest { PromptIds = ids, Options = sampling.Generation(parse), StopStrings = sampling.StopStrings(parse) };
            var asJson = parse.GetValue(json);
            if (!asJson && model.Synthesized)
            {
                Console.Error.WriteLine($"edgellm: '{model.Id}' is a synthesized model with random weights: its text is noise.");
            }

            TextCompletion? done = null;
            await foreach (var update in model.StreamAsync(request, cancellationToken: ct).ConfigureAwait(false))
            {
                if (!asJson)
                {
                    Console.Write(update.Text);
                }

                done = update.Completion ?? done;
            }

            if (asJson)
            {
                CliOutput.WriteJson(new
                {
                    ids = done!.Ids,
                    text = done.Text,
                    finish_reason = done.FinishReason.ToString().ToLowerInvariant(),
                    usage = Usage(done),
                    model = new { id = model.Id, provider = model.Model.ActiveProvider.Name, synthesized = model.Synthesized },
                });
            }
            else
            {
                Console.WriteLine();
            }

            return 0;
        }));
        return cmd;
    }

    internal static List<ChatTurn> Conversation(string? system, string user)
    {
        var turns = new List<ChatTurn>();
        if (!string.IsNullOrEmpty(system))
        {
            turns.Add(new ChatTurn("system", system));
        }

        turns.Add(new ChatTurn("user", user));
        return turns;
    }

    internal static object Usage(TextCompletion done) => new
    {
        prompt_tokens = done.PromptTokens,
        cached_prompt_tokens = done.CachedPromptTokens,
        completion_tokens = done.CompletionTokens,
        ttft_ms = Math.Round(done.TimeToFirstTokenMs, 1),
        tokens_per_s = Math.Round(done.TokensPerSecond, 2),
        total_ms = Math.Round(done.TotalMs, 1),
    };
}
