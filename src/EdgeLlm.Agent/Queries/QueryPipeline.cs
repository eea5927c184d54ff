using System.Diagnostics;
using System.Runtime.CompilerServices;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.ChatTemplates;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Scheduling;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Queries;

/// <summary>A piece of an answer as it streams; the last update carries <see cref="Result"/>.</summary>
internal readonly record struct QueryUpdate(string Text, QueryResult? Result);

/// <summary>The finished answer.</summary>
internal sealed record QueryResult(string Text, IReadOnlyList<Citation> Citations, IReadOnlyList<SensorUse> Sensors, Usage Usage, ModelRef Model, string FinishReason);

/// <summary>
/// A question's way to an answer: context from every <see cref="IContextSource"/>, a prompt from the model's chat
/// template and the grounding system prompt, then generation on the shared model (or, without a model, the
/// <see cref="IRetrievalAnswerer"/>). Refusals are <see cref="QueryException"/>s with the wire error code.
/// </summary>
internal sealed class QueryPipeline(
    ActiveModel active,
    IEnumerable<IContextSource> sources,
    IOptions<AgentOptions> options,
    TimeProvider time,
    IRetrievalAnswerer? retrieval = null,
    Updates.ActiveAdapter? adapters = null)
{
    private static readonly ModelRef NoModel = new() { Id = AgentOptions.NoModel, Version = AgentOptions.NoModel };
    private readonly IContextSource[] _sources = sources.ToArray();

    public async IAsyncEnumerable<QueryUpdate> RunAsync(QueryContext query, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var start = time.GetTimestamp();
        var context = await GatherAsync(query, cancellationToken).ConfigureAwait(false);
        // A manuals-only question with no passage that clears the floor has nothing to ground a model on: the
        // retrieval answerer says so instead of letting the model improvise.
        // One lease for the whole request: a model switch meanwhile neither changes the model this answer comes from
        // nor disposes it before the answer is done.
        using var lease = active.Acquire();
        var settled = lease is null || (query.Mode == AskModes.Manuals && context.Citations.Count == 0 && retrieval is not null);
        if (settled || lease is null)
        {
            var text = retrieval is null ? null : await retrieval.AnswerAsync(query, context, cancellationToken).ConfigureAwait(false);
            if (text is null)
            {
                throw new QueryException(ErrorCodes.ModelUnavailable,
                    $"no model is active on this device ({active.UnavailableReason}) and retrieval-only answers are not available for this question");
            }

            yield return new QueryUpdate(text, null);
            var usage = new Usage { TotalMs = time.GetElapsedTime(start).TotalMilliseconds };
            yield return new QueryUpdate("", new QueryResult(text, context.Citations, context.Sensors, usage, NoModel, "retrieval"));
            yield break;
        }

        var model = lease.Model;
        var adapter = adapters?.For(model);
        var request = BuildRequest(model, query, context, adapter);
        TextCompletion? done = null;
        var stream = model.StreamAsync(request, time, cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false);
        await using var e = stream.GetAsyncEnumerator();
        while (true)
        {
            TextUpdate update;
            try
            {
                if (!await e.MoveNextAsync())
                {
                    break;
                }

                update = e.Current;
            }
            catch (SchedulerBusyException ex)
            {
                throw new QueryException(ErrorCodes.Busy, ex.Message);
            }

            if (update.Completion is { } c)
            {
                done = c;
            }
            else if (update.Text.Length > 0)
            {
                yield return new QueryUpdate(update.Text, null);
            }
        }

        if (done is null || done.FinishReason == FinishReason.Cancelled)
        {
            // The caller's token decides whether this was a cancel, a timeout or a shutdown.
            cancellationToken.ThrowIfCancellationRequested();
            throw new UnreachableException("generation ended as cancelled without a cancelled token");
        }

        yield return new QueryUpdate("", new QueryResult(
            done.Text,
            context.Citations,
            context.Sensors,
            new Usage
            {
                PromptTokens = done.PromptTokens,
                CompletionTokens = done.CompletionTokens,
                TtftMs = Math.Round(done.TimeToFirstTokenMs, 3),
                TokensPerS = Math.Round(done.TokensPerSecond, 2),
                TotalMs = Math.Round(time.GetElapsedTime(start).TotalMilliseconds, 3),
            },
            adapter is null ? lease.Ref : lease.Ref with { Adapter = adapter },
            done.FinishReason == FinishReason.Stop ? "stop" : "length"));
    }

    private async Task<ContextContribution> GatherAsync(QueryContext query, CancellationToken cancellationToken)
    {
        if (query.Mode == AskModes.Chat || _sources.Length == 0)
        {
            return ContextContribution.Empty;
        }

        var parts = await Task.WhenAll(_sources.Select(s => s.GetAsync(query, cancellationToken))).ConfigureAwait(false);
        return ContextContribution.Combine(parts);
    }

    /// <summary>The prompt: system prompt with the context, the history, the question; refused as too_long when it leaves no room.</summary>
    internal TextRequest BuildRequest(LocalModel model, QueryContext query, ContextContribution context, string? adapter = null)
    {
        var o = options.Value;
        var system = context.Passages.Count == 0
            ? o.SystemPrompt + "\n\nContext: (none available)"
            : o.SystemPrompt + "\n\nContext:\n" + string.Join("\n\n", context.Passages);
        if (context.Sensors.Count > 0)
        {
            system += "\n\nSensor readings:\n" + string.Join("\n", context.Sensors.Select(s => $"- {s.Id}: {s.Value} {s.Unit}".TrimEnd()));
        }

        var turns = new List<ChatTurn> { new("system", system) };
        turns.AddRange(query.History.Select(h => new ChatTurn(h.Role!, h.Content!)));
        turns.Add(new ChatTurn("user", query.Question));
        var ids = model.Template is null
            ? model.EncodeRaw(string.Join("\n\n", turns.Select(t => t.Content)) + "\n\nAnswer:")
            : model.EncodeChat(turns);
        var contextLength = model.Model.Config.ContextLength;
        if (ids.Length >= contextLength)
        {
            throw new QueryException(ErrorCodes.TooLong,
                $"the question with its history and context is {ids.Length} tokens but the model's context holds {contextLength}; shorten the question or the history");
        }

        var maxTokens = Math.Min(Math.Min(query.MaxTokens ?? o.MaxTokens, o.MaxTokens), contextLength - ids.Length);
        var temperature = query.Temperature ?? o.Temperature;
        return new TextRequest
        {
            PromptIds = ids,
            Priority = query.Priority,
            Options = new GenerationOptions
            {
                MaxNewTokens = maxTokens,
                DoSample = temperature > 0,
                Temperature = temperature > 0 ? temperature : null,
                Adapter = adapter,
            },
        };
    }
}
