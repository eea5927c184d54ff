using System.Globalization;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.ChatTemplates;
using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// Runs a bundle's smoke test on a model loaded in its own session (the serving model is not touched): every prompt
/// greedily with its token limit, through the chat template when the model has one. A prompt fails when its answer is
/// empty or misses an expected substring; the test fails when the decode speed over all prompts is below the floor or
/// the whole run takes longer than its timeout.
/// </summary>
internal static class SmokeTest
{
    /// <summary>Null when the model passes, else why it failed (one line, for <c>smoke_test_failed: …</c>).</summary>
    public static async Task<string?> RunAsync(LocalModel model, BundleSmokeTest? test, TimeProvider time, string? adapter, CancellationToken cancellationToken)
    {
        if (test is null || test.Prompts.Count == 0)
        {
            return null;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(test.TimeoutSeconds), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        double decodedTokens = 0, decodeSeconds = 0;
        for (var i = 0; i < test.Prompts.Count; i++)
        {
            var prompt = test.Prompts[i];
            TextCompletion done;
            try
            {
                var ids = model.Template is null ? model.EncodeRaw(prompt.Prompt) : model.EncodeChat([new ChatTurn("user", prompt.Prompt)]);
                var room = model.Model.Config.ContextLength - ids.Length;
                if (room <= 0)
                {
                    return $"prompt {i + 1} is {ids.Length} tokens, more than the model's context of {model.Model.Config.ContextLength}";
                }

                var request = new TextRequest { PromptIds = ids, Options = new GenerationOptions { MaxNewTokens = Math.Min(prompt.MaxTokens, room), DoSample = false, Adapter = adapter } };
                done = await CompleteAsync(model, request, time, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return $"no result within {test.TimeoutSeconds} s (stopped at prompt {i + 1} of {test.Prompts.Count})";
            }

            if (done.FinishReason == FinishReason.Cancelled)
            {
                cancellationToken.ThrowIfCancellationRequested();
                return $"no result within {test.TimeoutSeconds} s (stopped at prompt {i + 1} of {test.Prompts.Count})";
            }

            if (prompt.ExpectSubstrings is { Count: > 0 } expected)
            {
                var missing = expected.FirstOrDefault(s => !done.Text.Contains(s, StringComparison.Ordinal));
                if (missing is not null)
                {
                    return $"the answer to prompt {i + 1} does not contain \"{missing}\" (answer: \"{Shorten(done.Text)}\")";
                }
            }
            else if (done.CompletionTokens == 0)
            {
                return $"prompt {i + 1} got an empty answer";
            }

            if (done.CompletionTokens > 1 && done.TokensPerSecond > 0)
            {
                decodedTokens += done.CompletionTokens - 1;
                decodeSeconds += (done.CompletionTokens - 1) / done.TokensPerSecond;
            }
        }

        var speed = decodeSeconds > 0 ? decodedTokens / decodeSeconds : 0;
        return test.MinTokensPerS is { } floor && speed < floor
            ? string.Create(CultureInfo.InvariantCulture, $"{speed:F1} tokens/s is below the floor of {floor:F1} tokens/s")
            : null;
    }

    private static async Task<TextCompletion> CompleteAsync(LocalModel model, TextRequest request, TimeProvider time, CancellationToken cancellationToken)
    {
        await foreach (var update in model.StreamAsync(request, time, cancellationToken).ConfigureAwait(false))
        {
            if (update.Completion is { } done)
            {
                return done;
            }
        }

        throw new InvalidOperationException("the generation stream ended without a completion");
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
