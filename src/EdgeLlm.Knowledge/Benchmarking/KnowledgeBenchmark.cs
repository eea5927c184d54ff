using System.Diagnostics;
using System.Globalization;
using System.Text;
using EdgeLlm.Knowledge.Documents;

namespace EdgeLlm.Knowledge.Benchmarking;

/// <summary>Search latency at one index size.</summary>
internal sealed record SearchLatency(int Chunks, int Queries, double P50Ms, double P95Ms, double P99Ms);

/// <summary>Ingestion speed on a real folder and search latencies at generated index sizes.</summary>
internal sealed record KnowledgeBenchmarkResult(int Documents, int Chunks, double IngestSeconds, double ChunksPerSecond, IReadOnlyList<SearchLatency> Searches);

/// <summary>
/// `edgellm manuals bench`: ingests a real folder of manuals (timed), then builds indexes of the requested sizes from
/// generated Markdown whose words are drawn from that folder, with part numbers mixed in, and times searches made of
/// words drawn from real passages. A <em>topical</em> corpus (the default) draws each generated manual's words mostly
/// from one real document, as a shelf of manuals on different subjects looks; a <em>uniform</em> one draws every word
/// from the whole folder, so every common word is everywhere: the worst case for an inverted index.
/// </summary>
internal static class KnowledgeBenchmark
{
    private const int SectionsPerFile = 100;

    public static async Task<KnowledgeBenchmarkResult> RunAsync(string corpus, string workDir, IReadOnlyList<int> sizes, int queries,
        bool uniform, Action<string> log, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(corpus))
        {
            throw new DocumentException($"{corpus}: no such folder (--corpus)");
        }

        Directory.CreateDirectory(workDir);
        var realDb = Path.Combine(workDir, "real.db");
        File.Delete(realDb);
        using var real = KnowledgeBase.Open(realDb);
        var clock = Stopwatch.StartNew();
        var ingested = await real.IngestAsync([corpus], cancellationToken: cancellationToken).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var chunks = ingested.Sum(r => r.Chunks);
        log($"ingested {corpus}: {chunks} chunks in {seconds:F2} s");
        var sample = real.SampleTexts();
        var texts = sample.Select(s => s.Text).ToList();
        var all = Words(texts);
        var topics = sample.GroupBy(s => s.DocumentId).Select(g => Words(g.Select(s => s.Text))).Where(w => w.Length > 50).ToArray();
        var random = new Random(17);
        var searches = new List<SearchLatency> { Measure(real, chunks, texts, queries, random) };
        foreach (var size in sizes)
        {
            var dir = Path.Combine(workDir, "generated-" + size.ToString(CultureInfo.InvariantCulture));
            Generate(dir, size, all, uniform ? [all] : topics, random);
            var db = Path.Combine(workDir, $"generated-{size}.db");
            File.Delete(db);
            using var kb = KnowledgeBase.Open(db);
            var results = await kb.IngestAsync([dir], cancellationToken: cancellationToken).ConfigureAwait(false);
            var count = results.Sum(r => r.Chunks);
            log($"generated index: {count} chunks");
            searches.Add(Measure(kb, count, texts, queries, random));
        }

        return new KnowledgeBenchmarkResult(ingested.Count(r => r.Status != IngestStatus.Failed), chunks, seconds, chunks / seconds, searches);
    }

    private static SearchLatency Measure(KnowledgeBase kb, int chunks, List<string> texts, int queries, Random random)
    {
        var questions = Enumerable.Range(0, queries + 20).Select(_ => Question(texts[random.Next(texts.Count)], random)).ToArray();
        // The first searches load the vocabulary and warm SQLite's page cache; they are not timed.
        foreach (var q in questions.Take(20))
        {
            kb.Search(q);
        }

        var times = new double[queries];
        for (var i = 0; i < queries; i++)
        {
            var start = Stopwatch.GetTimestamp();
            kb.Search(questions[20 + i]);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return new SearchLatency(chunks, queries, Percentile(times, 0.50), Percentile(times, 0.95), Percentile(times, 0.99));
    }

    /// <summary>A question of three to seven words taken from one real passage, as a technician might phrase it.</summary>
    private static string Question(string text, Random random)
    {
        var words = text.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var n = Math.Min(words.Length, random.Next(3, 8));
        return "how do I " + string.Join(' ', Enumerable.Range(0, n).Select(_ => words[random.Next(words.Length)]));
    }

    private static string[] Words(IEnumerable<string> texts) =>
        texts.SelectMany(t => t.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)).Where(w => w.Length < 30).ToArray();

    /// <summary>Manuals of <see cref="SectionsPerFile"/> sections; four words in five come from the file's topic.</summary>
    private static void Generate(string dir, int chunks, string[] all, string[][] topics, Random random)
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        Directory.CreateDirectory(dir);
        var sb = new StringBuilder();
        for (var file = 0; file * SectionsPerFile < chunks; file++)
        {
            var topic = topics[file % topics.Length];
            string Word() => random.Next(5) == 0 ? all[random.Next(all.Length)] : topic[random.Next(topic.Length)];
            sb.Clear().Append(CultureInfo.InvariantCulture, $"# Service manual {file}\n\n");
            for (var s = 0; s < SectionsPerFile && file * SectionsPerFile + s < chunks; s++)
            {
                sb.Append("## ").AppendJoin(' ', Enumerable.Range(0, 3).Select(_ => Word())).Append("\n\n");
                var length = random.Next(60, 140);
                for (var w = 0; w < length; w++)
                {
                    sb.Append(w % 37 == 36 ? $"TMC{random.Next(1000, 9999)}" : Word()).Append(w % 20 == 19 ? ".\n" : " ");
                }

                sb.Append("\n\n");
            }

            File.WriteAllText(Path.Combine(dir, $"manual-{file:D5}.md"), sb.ToString());
        }
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
