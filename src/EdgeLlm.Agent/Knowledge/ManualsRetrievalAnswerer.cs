using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;

namespace EdgeLlm.Agent.Knowledge;

/// <summary>
/// Answers from the manuals alone: without a model (retrieval-only mode) the best passages, cited and labelled as such;
/// and whenever the manuals do not cover a question that may only be answered from them, a plain "not in the manuals".
/// </summary>
internal sealed class ManualsRetrievalAnswerer(ActiveModel active) : IRetrievalAnswerer
{
    internal const string RetrievalOnlyLabel = "Retrieval-only answer (no language model is active on this device)";

    internal const string NotCovered = "The manuals on this device do not cover this question.";

    public Task<string?> AnswerAsync(QueryContext query, ContextContribution context, CancellationToken cancellationToken)
    {
        if (query.Mode is not (AskModes.Auto or AskModes.Manuals))
        {
            return Task.FromResult<string?>(null);
        }

        var label = active.Model is null ? RetrievalOnlyLabel + ": " : "";
        if (context.Citations.Count == 0)
        {
            return Task.FromResult<string?>(label + NotCovered);
        }

        var passages = string.Join("\n\n", context.Citations.Select((c, i) =>
            $"[{i + 1}] {c.Source}{(c.Location is null ? "" : ", " + c.Location)}:\n{c.Text}"));
        return Task.FromResult<string?>(label + "the best matching passages from the manuals.\n\n" + passages);
    }
}
