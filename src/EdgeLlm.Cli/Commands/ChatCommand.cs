using System.CommandLine;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.ChatTemplates;
using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm chat`: an interactive, streaming conversation. Ctrl+C stops the answer; Ctrl+D or /exit leaves.</summary>
internal static class ChatCommand
{
    public static Command Build()
    {
        var loading = new ModelLoading();
        var sampling = new SamplingOptions();
        var system = new Option<string?>("--system") { Description = "System prompt for the conversation." };
        var stats = new Option<bool>("--stats") { Description = "Print tokens, time to first token and tokens/s after each answer." };
        var cmd = new Command("chat", "Chat with a model interactively (streaming). Commands: /reset, /exit.") { system, stats };
        loading.AddTo(cmd);
        sampling.AddTo(cmd);
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(false, async () =>
        {
            using var loggers = loading.Loggers(parse);
            using var model = loading.Load(parse, loggers);
            sampling.LoadAdapterFile(parse, model);
            if (model.Template is null)
            {
                throw new ArgumentException($"{parse.GetValue(loading.Model)}: the model has no chat template; use `edgellm generate` with a raw prompt");
            }

            var input = Console.In;
            var output = Console.Out;
            await output.WriteLineAsync($"edgellm chat: {model.Id} on {model.Model.ActiveProvider.Name}. /reset clears the conversation, /exit or Ctrl+D leaves, Ctrl+C stops an answer.").ConfigureAwait(false);
            if (model.Synthesized)
            {
                await output.WriteLineAsync("note: this is a synthesized model with random weights; its answers are noise. Use a real model folder for real answers.").ConfigureAwait(false);
            }

            var session = new ChatSession(model, parse.GetValue(system), sampling.Generation(parse), sampling.StopStrings(parse));
            using var interrupt = new AnswerInterrupt();
            while (!ct.IsCancellationRequested)
            {
                await output.WriteAsync("> ").ConfigureAwait(false);
                var line = await input.ReadLineAsync(ct).ConfigureAwait(false);
                if (line is null || line.Trim() == "/exit")
                {
                    break;
                }

                if (line.Trim() == "/reset")
                {
                    session.Reset();
                    await output.WriteLineAsync("(conversation cleared)").ConfigureAwait(false);
                    continue;
                }

                if (line.Trim().Length == 0)
                {
                    continue;
                }

                using var answer = interrupt.Begin(ct);
                TextCompletion? done = null;
                await foreach (var update in session.AskAsync(line, answer.Token).ConfigureAwait(false))
                {
                    await output.WriteAsync(update.Text).ConfigureAwait(false);
                    done = update.Completion ?? done;
                }

                await output.WriteLineAsync(done?.FinishReason == FinishReason.Cancelled ? " [stopped]" : "").ConfigureAwait(false);
                if (parse.GetValue(stats) && done is not null)
                {
                    await output.WriteLineAsync($"[{done.PromptTokens} prompt + {done.CompletionTokens} tokens, first token {done.TimeToFirstTokenMs:F0} ms, {done.TokensPerSecond:F1} tokens/s]").ConfigureAwait(false);
                }
            }

            return 0;
        }));
        return cmd;
    }
}

/// <summary>The conversation of one chat: history that grows with each answer, and the prompt it renders.</summary>
internal sealed class ChatSession(LocalModel model, string? system, GenerationOptions options, IReadOnlyList<string> stops)
{
    private readonly List<ChatTurn> _turns = Initial(system);

    public IReadOnlyList<ChatTurn> Turns => _turns;

    public void Reset()
    {
        _turns.Clear();
        _turns.AddRange(Initial(system));
    }

    /// <summary>Streams the answer to <paramref name="question"/>; a completed or stopped answer joins the history.</summary>
    public async IAsyncEnumerable<TextUpdate> AskAsync(string question, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        _turns.Add(new ChatTurn("user", question));
        var ids = model.EncodeChat(_turns);
        var room = model.Model.Config.ContextLength - ids.Length;
        var request = new TextRequest
        {
            PromptIds = ids,
            Options = options.MaxNewTokens is null ? options with { MaxNewTokens = Math.Max(1, Math.Min(room, 1024)) } : options,
            StopStrings = stops,
        };
        await foreach (var update in model.StreamAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (update.Completion is { } done)
            {
                _turns.Add(new ChatTurn("assistant", done.Text));
            }

            yield return update;
        }
    }

    private static List<ChatTurn> Initial(string? system) =>
        string.IsNullOrEmpty(system) ? [] : [new ChatTurn("system", system)];
}

/// <summary>Ctrl+C while an answer streams stops that answer only; at the prompt it leaves the program.</summary>
internal sealed class AnswerInterrupt : IDisposable
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "Begin's caller owns and disposes each answer's source.")]
    private CancellationTokenSource? _current;

    public AnswerInterrupt() => Console.CancelKeyPress += OnCancel;

    public CancellationTokenSource Begin(CancellationToken outer)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _current = cts;
        return cts;
    }

    public void Dispose() => Console.CancelKeyPress -= OnCancel;

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (_current is { IsCancellationRequested: false } cts)
        {
            try
            {
                cts.Cancel();
                e.Cancel = true;
            }
            catch (ObjectDisposedException)
            {
                // The answer finished between the key press and now: let Ctrl+C end the program.
            }
        }
    }
}
