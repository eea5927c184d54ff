using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Retrieval;

/// <summary>
/// BM25 candidates from FTS5, re-scored by how much of the question (weighted by inverse document frequency)
/// each passage covers. Coverage of the best passage decides whether the question is answerable at all.
/// </summary>
internal static class Searcher
{
    private const int Candidates = 40;

    public static SearchResults Search(SqliteConnection db, Vocabulary vocab, string query, int k, double floor)
    {
        var plan = QueryPlan.Build(query, vocab);
        if (plan.Match is null)
        {
            return new SearchResults([], false);
        }

        var weights = plan.Terms.Select(t => (Term: t, Weight: vocab.Idf(t)))
            .Concat(plan.Codes.Where(c => !plan.Terms.Contains(c)).Select(c => (Term: c, Weight: vocab.Idf(c))))
            .ToList();
        var total = weights.Sum(w => w.Weight);
        var candidates = new List<(Passage Passage, double Bm25, double Coverage)>();
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"""
            SELECT c.id, c.document_id, d.file_name, d.title, d.path, c.heading, c.page, c.text, m.rank
            FROM (SELECT rowid, rank FROM chunk_index WHERE chunk_index MATCH $q ORDER BY rank LIMIT {Candidates}) m
            JOIN chunks c ON c.id = m.rowid JOIN documents d ON d.id = c.document_id
            """;
        cmd.Parameters.AddWithValue("$q", plan.Match);
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var headings = KnowledgeBase.SplitHeadings(r.GetString(5));
                var text = r.GetString(7);
                var passage = new Passage(r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4), headings,
                    r.IsDBNull(6) ? null : r.GetInt32(6), 0, text);
                var present = new HashSet<string>(TextAnalyzer.Terms(passage.Title + "\n" + string.Join('\n', headings) + "\n" + text), StringComparer.Ordinal);
                present.UnionWith(TextAnalyzer.Codes(passage.Title + "\n" + string.Join('\n', headings) + "\n" + text));
                var covered = total <= 0 ? 0 : weights.Where(w => present.Contains(w.Term)).Sum(w => w.Weight) / total;
                candidates.Add((passage, -r.GetDouble(8), covered));
            }
        }

        if (candidates.Count == 0)
        {
            return new SearchResults([], false);
        }

        var best = candidates.Max(c => c.Bm25);
        var ranked = candidates
            .Select(c => c.Passage with { Score = Math.Round(0.5 * (best > 0 ? c.Bm25 / best : 0) + 0.5 * c.Coverage, 4) })
            .OrderByDescending(p => p.Score)
            .Take(k)
            .ToList();
        return new SearchResults(ranked, candidates.Max(c => c.Coverage) >= floor);
    }
}
