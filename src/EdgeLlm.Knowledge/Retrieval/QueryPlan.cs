namespace EdgeLlm.Knowledge.Retrieval;

/// <summary>
/// A question turned into index terms and an FTS5 expression built only from those terms, each quoted, so that no
/// character of the question (quotes, <c>NEAR</c>, <c>*</c>, <c>-</c>, parentheses, AND/OR/NOT) reaches FTS5's syntax.
/// </summary>
internal sealed record QueryPlan(IReadOnlyList<string> Terms, IReadOnlyList<string> Codes, string? Match)
{
    /// <summary>Above this share of all chunks a word says little and costs a lot to score; it still counts for coverage.</summary>
    private const double CommonShare = 0.2;

    public static QueryPlan Build(string question, Vocabulary vocab)
    {
        var terms = new List<string>();
        foreach (var t in TextAnalyzer.Terms(question))
        {
            var term = vocab.DocumentFrequency(t) > 0 ? t : vocab.Correct(t) ?? t;
            if (!terms.Contains(term))
            {
                terms.Add(term);
            }
        }

        var codes = TextAnalyzer.Codes(question).Distinct().ToList();
        var known = terms.Where(t => vocab.DocumentFrequency(t) > 0).ToList();
        var selective = known.Where(t => vocab.DocumentFrequency(t) <= vocab.ChunkCount * CommonShare).ToList();
        var matchTerms = selective.Count > 0 ? selective : known;
        var matchCodes = codes.Where(c => vocab.DocumentFrequency(c) > 0).ToList();
        var parts = new List<string>();
        if (matchTerms.Count > 0)
        {
            parts.Add("{title headings body} : (" + string.Join(" OR ", matchTerms.Select(Quote)) + ")");
        }

        if (matchCodes.Count > 0)
        {
            parts.Add("codes : (" + string.Join(" OR ", matchCodes.Select(Quote)) + ")");
        }

        return new QueryPlan(terms, codes, parts.Count == 0 ? null : string.Join(" OR ", parts));
    }

    /// <summary>An FTS5 string literal: inside double quotes every character is text; a quote is doubled.</summary>
    internal static string Quote(string term) => "\"" + term.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
