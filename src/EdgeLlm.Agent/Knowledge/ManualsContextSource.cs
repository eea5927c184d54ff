using System.Globalization;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Knowledge;
using EdgeLlm.Knowledge.Chunking;

namespace EdgeLlm.Agent.Knowledge;

/// <summary>
/// Manual passages for questions in modes <c>auto</c> and <c>manuals</c>: the best ones (within <see cref="ManualsOptions.MinScoreShare"/> of the first), numbered [1], [2], … as the
/// answer should cite them and within the prompt budget, each with its <see cref="Citation"/>. When no passage clears
/// the relevance floor the prompt says the manuals do not cover the question, and no citation is returned.
/// </summary>
internal sealed class ManualsContextSource(Manuals manuals, ActiveModel active, Metrics.AgentMetrics? metrics = null, TimeProvider? time = null) : IContextSource
{
    /// <summary>The prompt's note when the manuals have nothing on the question.</summary>
    internal const string NotCoveredNote =
        "Manuals: the manuals on this device do not cover this question. Say that it is not in the manuals; do not guess.";

    public Task<ContextContribution> GetAsync(QueryContext query, CancellationToken cancellationToken)
    {
        if (query.Mode is not (AskModes.Auto or AskModes.Manuals))
        {
            return Task.FromResult(ContextContribution.Empty);
        }

        var clock = time ?? TimeProvider.System;
        var started = clock.GetTimestamp();
        var found = manuals.Search(query.Question);
        metrics?.Retrieval(clock.GetElapsedTime(started));
        if (!found.Answerable || found.Passages.Count == 0)
        {
            return Task.FromResult(new ContextContribution([NotCoveredNote], [], []));
        }

        var budget = manuals.Options.ContextTokens;
        if (active.Model is { } model)
        {
            budget = Math.Min(budget, model.Model.Config.ContextLength / 2);
        }

        var cut = found.Passages[0].Score * manuals.Options.MinScoreShare;
        return Task.FromResult(Build(found.Passages.Where(p => p.Score >= cut).ToList(), manuals.TokenCounter, budget));
    }

    /// <summary>Numbers the passages best first and keeps those that fit <paramref name="budget"/> tokens (the best one always, shortened if need be).</summary>
    internal static ContextContribution Build(IReadOnlyList<Passage> passages, ITokenCounter counter, int budget)
    {
        var texts = new List<string>();
        var citations = new List<Citation>();
        var used = 0;
        foreach (var p in passages)
        {
            var n = texts.Count + 1;
            var text = Label(n, p) + "\n" + p.Text;
            var cost = counter.CountTokens(text);
            if (used + cost > budget)
            {
                if (texts.Count > 0)
                {
                    break;
                }

                text = Shorten(text, counter, budget);
                cost = counter.CountTokens(text);
            }

            used += cost;
            texts.Add(text);
            citations.Add(CitationOf(p));
        }

        return new ContextContribution(texts, citations, []);
    }

    /// <summary>How a passage is named in the prompt and in retrieval-only answers: <c>[1] BL-200.md, Errors &gt; E-17, p. 2</c>.</summary>
    internal static string Label(int n, Passage p) => $"[{n.ToString(CultureInfo.InvariantCulture)}] {p.Document}" + (Location(p) is { } l ? ", " + l : "");

    internal static Citation CitationOf(Passage p) => new()
    {
        Source = p.Document,
        Location = Location(p),
        Title = p.Title,
        Heading = p.HeadingPath.Count > 0 ? p.HeadingPath : null,
        Page = p.Page,
        Score = Math.Round(p.Score, 3),
        Text = p.Text,
    };

    private static string? Location(Passage p)
    {
        var parts = new List<string>(2);
        // A Markdown manual's top heading is its title: repeating it in every label costs prompt tokens for nothing.
        var headings = p.HeadingPath.Count > 1 && p.HeadingPath[0] == p.Title ? p.HeadingPath.Skip(1) : p.HeadingPath;
        if (headings.Any())
        {
            parts.Add(string.Join(" > ", headings));
        }

        if (p.Page is { } page)
        {
            parts.Add("p. " + page.ToString(CultureInfo.InvariantCulture));
        }

        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    private static string Shorten(string text, ITokenCounter counter, int budget)
    {
        // Token counts are not proportional to characters, so shrink until it fits rather than cut once.
        while (text.Length > 1 && counter.CountTokens(text) > budget)
        {
            text = text[..(text.Length * 4 / 5)];
        }

        return text + " …";
    }
}
