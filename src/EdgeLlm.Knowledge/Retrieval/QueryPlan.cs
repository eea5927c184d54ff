namespace EdgeLlm.Knowledge.Retrieval;

/// <summary>
/// One thing the question asks about: a word (or phrase, or code) and its synonyms. A passage covers the concept
/// when it holds every term of any one alternative. <see cref="Weight"/> is the inverse document frequency of the
/// concept as asked; a concept the index has never seen weighs the most, which is what makes an off-topic
/// question fall below the relevance floor.
/// </summary>
internal sealed record Concept(IReadOnlyList<string[]> Alternatives, double Weight, bool IsCode);

/// <summary>
/// A question turned into concepts and an FTS5 expression built only from analyzed terms, each quoted, so that no
/// character of the question (quotes, <c>NEAR</c>, <c>*</c>, <c>-</c>, parentheses, AND/OR/NOT) reaches FTS5's syntax.
/// </summary>
internal sealed record QueryPlan(IReadOnlyList<Concept> Concepts, IReadOnlyList<string> Terms, string? Match, IReadOnlyList<string>? NarrowMatches = null)
{
    /// <summary>Matching rows (summed document frequencies) the FTS5 query may touch: bounds search time on big indexes.</summary>
    private const int MatchBudget = 2000;

    public static QueryPlan Build(string question, Vocabulary vocab)
    {
        var codes = TextAnalyzer.Codes(question).Distinct().ToList();
        var terms = new List<string>();
        foreach (var t in TextAnalyzer.Terms(question))
        {
            // A code (M104, TMC2209) is its own concept below, never "corrected" into a neighbouring part number.
            if (!codes.Contains(t))
            {
                terms.Add(vocab.DocumentFrequency(t) > 0 ? t : vocab.Correct(t) ?? t);
            }
        }

        var concepts = new List<Concept>();
        var used = new bool[terms.Count];
        foreach (var group in Synonyms.All)
        {
            foreach (var member in group)
            {
                var at = Find(terms, used, member);
                if (at < 0)
                {
                    continue;
                }

                for (var i = 0; i < member.Length; i++)
                {
                    used[at + i] = true;
                }

                // Weighted as asked: the words the technician used, or the group's best-known form if the index lacks them.
                var df = member.All(t => vocab.DocumentFrequency(t) > 0) ? member.Min(vocab.DocumentFrequency) : group.Max(m => m.Min(vocab.DocumentFrequency));
                concepts.Add(new Concept(group, vocab.Idf(df), false));
                break;
            }
        }

        for (var i = 0; i < terms.Count; i++)
        {
            if (!used[i] && !concepts.Any(c => c.Alternatives.Count == 1 && c.Alternatives[0][0] == terms[i]))
            {
                concepts.Add(new Concept([[terms[i]]], vocab.Idf(vocab.DocumentFrequency(terms[i])), false));
            }
        }

        foreach (var code in codes)
        {
            concepts.Add(new Concept([[code]], vocab.Idf(vocab.DocumentFrequency(code)), true));
        }

        // Codes are matched as words too: "M104" in running text is also the word "m104".
        var words = concepts.SelectMany(c => c.Alternatives.SelectMany(a => a)).Distinct()
            .Where(t => vocab.DocumentFrequency(t) > 0).ToList();
        // The rarest words first, until their posting lists together reach the budget: FTS5 scores every row that
        // matches, so common words would cost the most while saying the least. Coverage still counts them all.
        var matchWords = new List<string>();
        long rows = 0;
        foreach (var w in words.OrderBy(vocab.DocumentFrequency))
        {
            var df = vocab.DocumentFrequency(w);
            if (matchWords.Count > 0 && rows + df > MatchBudget)
            {
                break;
            }

            matchWords.Add(w);
            rows += df;
        }

        var matchCodes = concepts.Where(c => c.IsCode).Select(c => c.Alternatives[0][0]).Where(c => vocab.DocumentFrequency(c) > 0).ToList();
        var match = Expression(matchWords, matchCodes, " OR ");

        // Even the rarest word is common, so the full query would score a large share of the index. Narrower
        // queries come first (unranked, see Searcher): the rarest words in a title or heading, then the two rarest
        // words together; the full query only if they find fewer passages than asked for.
        var narrow = new List<string>();
        if (rows > MatchBudget)
        {
            var rarest = words.OrderBy(vocab.DocumentFrequency).ToList();
            narrow.Add("{title headings} : (" + string.Join(" OR ", rarest.Take(3).Select(Quote)) + ")");
            if (rarest.Count >= 2)
            {
                narrow.Add(Expression(rarest.Take(2).ToList(), [], " AND ")!);
            }
        }

        return new QueryPlan(concepts, terms, match, narrow);
    }

    private static string? Expression(List<string> words, List<string> codes, string join)
    {
        var parts = new List<string>();
        if (words.Count > 0)
        {
            parts.Add("{title headings body} : (" + string.Join(join, words.Select(Quote)) + ")");
        }

        if (codes.Count > 0)
        {
            parts.Add("codes : (" + string.Join(" OR ", codes.Select(Quote)) + ")");
        }

        return parts.Count == 0 ? null : string.Join(" OR ", parts);

    }

    /// <summary>An FTS5 string literal: inside double quotes every character is text; a quote is doubled.</summary>
    internal static string Quote(string term) => "\"" + term.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static int Find(List<string> terms, bool[] used, string[] phrase)
    {
        for (var i = 0; i + phrase.Length <= terms.Count; i++)
        {
            var match = true;
            for (var j = 0; j < phrase.Length && match; j++)
            {
                match = !used[i + j] && terms[i + j] == phrase[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }
}
