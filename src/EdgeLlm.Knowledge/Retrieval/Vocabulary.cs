namespace EdgeLlm.Knowledge.Retrieval;

/// <summary>
/// The index's terms with their document frequencies (from FTS5's vocabulary table), for inverse document
/// frequencies and for correcting typos in questions. Rebuilt after the index changes.
/// </summary>
internal sealed class Vocabulary
{
    private readonly Dictionary<string, int> _df;
    private readonly Dictionary<char, string[]> _byFirst;

    public Vocabulary(Dictionary<string, int> df, int chunkCount)
    {
        _df = df;
        ChunkCount = chunkCount;
        _byFirst = df.Keys.Where(t => t.Length >= 3 && char.IsLetter(t[0])).GroupBy(t => t[0]).ToDictionary(g => g.Key, g => g.ToArray());
    }

    public int ChunkCount { get; }

    public int DocumentFrequency(string term) => _df.GetValueOrDefault(term);

    /// <summary>BM25's inverse document frequency; a term the index does not hold weighs the most.</summary>
    public double Idf(string term) => Idf(DocumentFrequency(term));

    public double Idf(int df) => Math.Log(1 + (ChunkCount - df + 0.5) / (df + 0.5));

    /// <summary>
    /// The indexed term closest to an unknown word (letters only: part numbers are never corrected): same first letter, at most one edit (two for words of eight
    /// letters or more; transpositions count as one), the more frequent term on a tie. Null when none is that close.
    /// </summary>
    public string? Correct(string term)
    {
        if (term.Length < 4 || !term.All(char.IsLetter) || !_byFirst.TryGetValue(term[0], out var candidates))
        {
            return null;
        }

        var max = term.Length >= 8 ? 2 : 1;
        string? best = null;
        var bestDistance = max + 1;
        var bestDf = 0;
        foreach (var c in candidates)
        {
            if (Math.Abs(c.Length - term.Length) > max)
            {
                continue;
            }

            var d = Distance(term, c, max);
            var df = _df[c];
            if (d < bestDistance || d == bestDistance && df > bestDf)
            {
                (best, bestDistance, bestDf) = (c, d, df);
            }
        }

        return bestDistance <= max ? best : null;
    }

    /// <summary>Optimal string alignment distance, giving up (returning max + 1) once it must exceed <paramref name="max"/>.</summary>
    internal static int Distance(string a, string b, int max)
    {
        var prev2 = new int[b.Length + 1];
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            var rowMin = cur[0];
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                var v = Math.Min(Math.Min(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    v = Math.Min(v, prev2[j - 2] + 1);
                }

                cur[j] = v;
                rowMin = Math.Min(rowMin, v);
            }

            if (rowMin > max)
            {
                return max + 1;
            }

            (prev2, prev, cur) = (prev, cur, prev2);
        }

        return prev[b.Length];
    }
}
