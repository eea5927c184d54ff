using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Retrieval;

/// <summary>
/// BM25 candidates from FTS5, re-scored by how much of the question (weighted by inverse document frequency)
/// each passage covers. Coverage of the best passage decides whether the question is answerable at all.
/// </summary>
internal static class Searcher
{
    private const int Candidates = 40;

    // The final score mixes BM25 (relative to the best candidate), the share of the question a passage covers,
    // the share its own heading covers (a section titled after the question is usually the answer), and the share
    // of the question's word pairs that occur side by side in the passage ("lost steps", "round bed").
    private const double Bm25Share = 0.15;
    private const double CoverageShare = 0.45;
    private const double HeadingShare = 0.4;
    private const double PairShare = 0.1;
    private const double TitleShare = 0.2;

    public static SearchResults Search(SqliteConnection db, Vocabulary vocab, string query, int k, double floor)
    {
        var plan = QueryPlan.Build(query, vocab);
        if (plan.Match is null)
        {
            return new SearchResults([], false);
        }

        var total = plan.Concepts.Sum(c => c.Weight);
        var pairs = Pairs(plan.Terms);
        var candidates = new List<Candidate>();
        // Narrow queries are not ranked by FTS5 (that would score every match, the cost they exist to avoid): their
        // first matches are re-scored here like any candidate.
        foreach (var (match, rankByBm25) in (plan.NarrowMatches ?? []).Select(m => (m, false)).Append((plan.Match, true)))
        {
            candidates = Fetch(db, plan, match, rankByBm25, total, pairs);
            if (candidates.Count >= k)
            {
                break;
            }
        }

        if (candidates.Count == 0)
        {
            return new SearchResults([], false);
        }

        var best = candidates.Max(c => c.Bm25);
        var ranked = candidates
            .Select(c => c.Passage with { Score = Math.Round(Bm25Share * (best > 0 ? c.Bm25 / best : 0) + CoverageShare * c.Coverage + HeadingShare * c.HeadingCoverage + PairShare * c.Pairs + TitleShare * c.Title, 4) })
            .OrderByDescending(p => p.Score)
            .Take(k)
            .ToList();
        var confidence = Math.Round(candidates.Max(c => c.Coverage), 4);
        return new SearchResults(ranked, confidence >= floor) { Confidence = confidence };
    }

    private static List<Candidate> Fetch(SqliteConnection db, QueryPlan plan, string match, bool ranked, double total, HashSet<(string, string)> pairs)
    {
        var candidates = new List<Candidate>();
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"""
            SELECT c.id, c.document_id, d.file_name, d.title, d.path, c.heading, c.page, c.text, m.rank, c.terms, c.codes
            FROM (SELECT rowid, {(ranked ? "rank" : "0.0 AS rank")} FROM chunk_index WHERE chunk_index MATCH $q {(ranked ? "ORDER BY rank" : "")} LIMIT {Candidates}) m
            JOIN chunks c ON c.id = m.rowid JOIN documents d ON d.id = c.document_id
            """;
        cmd.Parameters.AddWithValue("$q", match);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var headings = KnowledgeBase.SplitHeadings(r.GetString(5));
            var passage = new Passage(r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4), headings,
                r.IsDBNull(6) ? null : r.GetInt32(6), 0, r.GetString(7));
            var terms = r.GetString(9).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var all = new HashSet<string>(terms, StringComparer.Ordinal);
            all.UnionWith(r.GetString(10).Split(' ', StringSplitOptions.RemoveEmptyEntries));
            var pairShare = pairs.Count == 0 ? 0 : (double)Pairs(terms).Count(pairs.Contains) / pairs.Count;
            // An introduction (no heading below the title) gets half the heading credit: a section named after
            // the question answers it more often than the overview of the whole document.
            var heading = Coverage(plan, TermSet(headings.Length > 0 ? headings[^1] : passage.Title), total) * (headings.Length > 1 ? 1 : 0.5);
            candidates.Add(new Candidate(passage, -r.GetDouble(8), Coverage(plan, all, total), heading, pairShare, Coverage(plan, TermSet(passage.Title), total)));
        }

        return candidates;
    }

    private static HashSet<string> TermSet(string text)
    {
        var set = new HashSet<string>(TextAnalyzer.Terms(text), StringComparer.Ordinal);
        set.UnionWith(TextAnalyzer.Codes(text));
        return set;
    }

    private static HashSet<(string, string)> Pairs(IReadOnlyList<string> terms)
    {
        var set = new HashSet<(string, string)>();
        for (var i = 1; i < terms.Count; i++)
        {
            set.Add((terms[i - 1], terms[i]));
        }

        return set;
    }

    private static double Coverage(QueryPlan plan, HashSet<string> present, double total) => total <= 0 ? 0
        : plan.Concepts.Where(c => c.Alternatives.Any(a => a.All(present.Contains))).Sum(c => c.Weight) / total;

    private sealed record Candidate(Passage Passage, double Bm25, double Coverage, double HeadingCoverage, double Pairs, double Title);
}
