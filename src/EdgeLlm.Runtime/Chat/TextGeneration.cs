using System.Diagnostics;
using System.Runtime.CompilerServices;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Scheduling;

namespace EdgeLlm.Runtime.Chat;

/// <summary>One text generation request on a <see cref="LocalModel"/>.</summary>
internal sealed record TextRequest
{
    /// <summary>The prompt's token ids (from <see cref="LocalModel.EncodeChat"/> or <see cref="LocalModel.EncodeRaw"/>).</summary>
    public required int[] PromptIds { get; init; }

    /// <summary>Sampling and length options; null values take the model's defaults.</summary>
    public GenerationOptions Options { get; init; } = new();

    /// <summary>Strings that end the answer; the stop string itself is not part of the text. Default none.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Operator questions go before automated ones. Default <see cref="RequestPriority.Operator"/>.</summary>
    public RequestPriority Priority { get; init; } = RequestPriority.Operator;
}

/// <summary>A piece of the streamed answer; the last update of a stream carries <see cref="Completion"/>.</summary>
internal readonly record struct TextUpdate(string Text, TextCompletion? Completion);

/// <summary>The end of a generation: the whole text, the ids and the figures an answer reports.</summary>
internal sealed record TextCompletion
{
    public required string Text { get; init; }

    /// <summary>Generated ids only (the stop token included when one ended generation).</summary>
    public required IReadOnlyList<int> Ids { get; init; }

    public required FinishReason FinishReason { get; init; }
    public required int PromptTokens { get; init; }
    public required int CompletionTokens { get; init; }

    /// <summary>Prompt tokens whose key/value state came from the prefix cache instead of being run (part of <see cref="PromptTokens"/>).</summary>
    public int CachedPromptTokens { get; init; }

    /// <summary>From the request entering the model (after any queue wait) to the first generated token.</summary>
    public required double TimeToFirstTokenMs { get; init; }

    /// <summary>Decode speed: tokens after the first over the time after the first.</summary>
    public required double TokensPerSecond { get; init; }

    /// <summary>Time spent waiting for the model in the scheduler's queue.</summary>
    public required double QueueMs { get; init; }

    public required double TotalMs { get; init; }
}

/// <summary>Turns token streams into text streams: streaming detokenization, stop strings, timing.</summary>
internal static class TextGeneration
{
    /// <summary>
    /// Waits for the model (throws <see cref="SchedulerBusyException"/> at once when the queue is full), then
    /// streams text. Cancellation ends the stream within one token with <see cref="FinishReason.Cancelled"/>.
    /// </summary>
    public static async IAsyncEnumerable<TextUpdate> StreamAsync(
        this LocalModel model,
        TextRequest request,
        TimeProvider? time = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        time ??= TimeProvider.System;
        var start = time.GetTimestamp();
        using var lease = await model.Scheduler.EnterAsync(request.Priority, cancellationToken).ConfigureAwait(false);
        var admitted = time.GetTimestamp();

        var decoder = model.Tokenizer.CreateStreamDecoder(skipSpecialTokens: true);
        var stops = new StopStringMatcher(request.StopStrings);
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        long firstToken = 0;
        var cachedPromptTokens = 0;
        var finish = FinishReason.Length;

        // Stop strings are found on text, which the generator does not see: StopWhen lets the matcher end the run.
        var options = request.StopStrings.Count == 0 ? request.Options : request.Options with { StopWhen = _ => stops.Stopped };
        await foreach (var token in model.Generator.GenerateAsync(request.PromptIds, options, cancellationToken).ConfigureAwait(false))
        {
            if (token.HasToken)
            {
                if (firstToken == 0)
                {
                    firstToken = time.GetTimestamp();
                    cachedPromptTokens = token.CachedPromptTokens;
                }

                ids.Add(token.Id);
                var piece = stops.Append(decoder.Append(token.Id));
                if (piece.Length > 0)
                {
                    text.Append(piece);
                    yield return new TextUpdate(piece, null);
                }
            }

            if (token.FinishReason is { } reason)
            {
                finish = reason;
            }
        }

        if (!stops.Stopped)
        {
            var tail = stops.Append(decoder.Flush()) + stops.Flush();
            if (tail.Length > 0 && finish != FinishReason.Cancelled)
            {
                text.Append(tail);
                yield return new TextUpdate(tail, null);
            }
        }
        else
        {
            finish = FinishReason.Stop;
        }

        var end = time.GetTimestamp();
        var decodeSeconds = firstToken == 0 ? 0 : time.GetElapsedTime(firstToken, end).TotalSeconds;
        yield return new TextUpdate("", new TextCompletion
        {
            Text = text.ToString(),
            Ids = ids,
            FinishReason = finish,
            PromptTokens = request.PromptIds.Length,
            CompletionTokens = ids.Count,
            CachedPromptTokens = cachedPromptTokens,
            QueueMs = time.GetElapsedTime(start, admitted).TotalMilliseconds,
            TimeToFirstTokenMs = firstToken == 0 ? 0 : time.GetElapsedTime(admitted, firstToken).TotalMilliseconds,
            TokensPerSecond = ids.Count > 1 && decodeSeconds > 0 ? (ids.Count - 1) / decodeSeconds : 0,
            TotalMs = time.GetElapsedTime(start, end).TotalMilliseconds,
        });
    }

    /// <summary>Runs a request to the end and returns the completion.</summary>
    public static async Task<TextCompletion> CompleteAsync(this LocalModel model, TextRequest request, CancellationToken cancellationToken = default)
    {
        await foreach (var update in model.StreamAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (update.Completion is { } done)
            {
                return done;
            }
        }

        throw new InvalidOperationException("the generation stream ended without a completion");
    }
}
