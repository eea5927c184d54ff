using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using EdgeLlm.Knowledge;
using EdgeLlm.Knowledge.Benchmarking;
using EdgeLlm.Knowledge.Chunking;
using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm manuals add|list|remove|search|bench`: the manuals index in the device's knowledge.db.</summary>
internal static class ManualsCommand
{
    private const string DefaultConfig = "/etc/edgellm/agent.json";

    private static readonly JsonSerializerOptions ConfigJson = new() { PropertyNameCaseInsensitive = true };

    public static Command Build()
    {
        var cmd = new Command("manuals", "The manuals on this device: ingest, list, remove, search (knowledge.db in the data directory).");
        cmd.Add(Add());
        cmd.Add(List());
        cmd.Add(Remove());
        cmd.Add(Search());
        cmd.Add(Bench());
        return cmd;
    }

    private static Command Add()
    {
        var paths = new Argument<string[]>("paths") { Description = "Files or folders (.pdf, .md, .html, .txt; folders recursively).", Arity = ArgumentArity.OneOrMore };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Model folder whose tokenizer measures the chunk budget (default: an estimate)." };
        var (dataDir, config, json) = (CommonOptions.DataDir(), CommonOptions.Config(), CommonOptions.Json());
        var cmd = new Command("add", "Ingest files and folders; unchanged files are skipped, changed ones re-indexed.") { paths, tokenizer, dataDir, config, json };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            using var kb = Open(parse, dataDir, config);
            ITokenCounter? counter = parse.GetValue(tokenizer) is { } folder ? HfTokenCounter(HfTokenizer.Load(folder)) : null;
            var results = await kb.IngestAsync(parse.GetValue(paths)!, counter, new ProgressBar(), ct).ConfigureAwait(false);
            Console.Error.WriteLine();
            var failed = results.Where(r => r.Status == IngestStatus.Failed).ToList();
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new
                {
                    documents = results.Count(r => r.Status != IngestStatus.Failed),
                    chunks = results.Sum(r => r.Chunks),
                    errors = failed.Count,
                    files = results.Select(r => new { path = r.Path, status = r.Status.ToString().ToLowerInvariant(), document_id = r.DocumentId, r.Chunks, added = r.ChunksAdded, removed = r.ChunksRemoved, error = r.Error }),
                });
            }
            else
            {
                foreach (var f in failed)
                {
                    Console.Error.WriteLine($"edgellm: {f.Error}");
                }

                Console.WriteLine($"{results.Count(r => r.Status == IngestStatus.Added)} added, {results.Count(r => r.Status == IngestStatus.Updated)} updated, "
                    + $"{results.Count(r => r.Status == IngestStatus.Unchanged)} unchanged documents; {results.Sum(r => r.Chunks)} chunks "
                    + $"({results.Sum(r => r.ChunksAdded)} new, {results.Sum(r => r.ChunksRemoved)} removed); {failed.Count} errors");
            }

            return failed.Count == 0 ? 0 : CliOutput.UserError;
        }));
        return cmd;
    }

    private static Command List()
    {
        var (dataDir, config, json) = (CommonOptions.DataDir(), CommonOptions.Config(), CommonOptions.Json());
        var cmd = new Command("list", "The indexed documents, with the manuals bundle each came from.") { dataDir, config, json };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            using var kb = Open(parse, dataDir, config);
            var docs = kb.List();
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new
                {
                    documents = docs.Select(d => new
                    {
                        d.Id, document = d.FileName, d.Title, d.Path, d.Format, d.Chunks, d.Bytes, d.Hash, ingested_at = d.IngestedAt,
                        source = d.Source is { } s ? new { s.Name, s.Version, s.Digest, path = d.SourcePath } : null,
                    }),
                });
                return 0;
            }

            foreach (var d in docs)
            {
                var source = d.Source is { } s ? $"  [{s.Name} {s.Version}]" : "";
                Console.WriteLine($"{d.Id,5}  {d.FileName,-40} {d.Chunks,6} chunks  {d.Title}{source}");
            }

            Console.WriteLine($"{docs.Count} documents, {docs.Sum(d => d.Chunks)} chunks");
            return 0;
        }));
        return cmd;
    }

    private static Command Remove()
    {
        var id = new Argument<long>("id") { Description = "Document id (see `manuals list`)." };
        var (dataDir, config, json) = (CommonOptions.DataDir(), CommonOptions.Config(), CommonOptions.Json());
        var cmd = new Command("remove", "Remove a document and its chunks from the index.") { id, dataDir, config, json };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            using var kb = Open(parse, dataDir, config);
            if (!kb.Remove(parse.GetValue(id)))
            {
                throw new ArgumentException($"no document with id {parse.GetValue(id)}; see `edgellm manuals list`");
            }

            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new { removed = parse.GetValue(id) });
            }
            else
            {
                Console.WriteLine($"removed document {parse.GetValue(id)}");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command Search()
    {
        var query = new Argument<string>("query") { Description = "The question, as a technician would ask it." };
        var k = new Option<int>("--k") { Description = "Passages to return.", DefaultValueFactory = _ => 5 };
        var (dataDir, config, json) = (CommonOptions.DataDir(), CommonOptions.Config(), CommonOptions.Json());
        var cmd = new Command("search", "The best passages for a question, cited; says when the manuals do not answer it.") { query, k, dataDir, config, json };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            if (parse.GetValue(k) < 1)
            {
                throw new ArgumentException("--k must be at least 1");
            }

            using var kb = Open(parse, dataDir, config);
            var found = kb.Search(parse.GetValue(query)!, parse.GetValue(k));
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new
                {
                    results = found.Passages.Select(p => new { document = p.Document, title = p.Title, path = p.Path, heading = p.Heading, page = p.Page, score = p.Score, text = p.Text }),
                    answerable = found.Answerable,
                });
                return 0;
            }

            if (!found.Answerable)
            {
                Console.WriteLine("not in the manuals");
                return 0;
            }

            var n = 1;
            foreach (var p in found.Passages)
            {
                Console.WriteLine($"[{n++}] {p.Citation}  (score {p.Score.ToString("0.000", CultureInfo.InvariantCulture)})");
                Console.WriteLine(p.Text);
                Console.WriteLine();
            }

            return 0;
        }));
        return cmd;
    }

    private static Command Bench()
    {
        var corpus = new Option<string>("--corpus") { Description = "Folder of manuals to ingest and to draw the generated corpus from.", Required = true };
        var sizes = new Option<int[]>("--chunks") { Description = "Index sizes (chunks) to measure search latency at.", DefaultValueFactory = _ => [1000, 100_000], AllowMultipleArgumentsPerToken = true };
        var queries = new Option<int>("--queries") { Description = "Searches timed per index size.", DefaultValueFactory = _ => 500 };
        var work = new Option<string?>("--work-dir") { Description = "Where the benchmark databases go (default: a temporary folder, removed after)." };
        var uniform = new Option<bool>("--uniform") { Description = "Generate a corpus without topics (every word anywhere): the worst case." };
        var json = CommonOptions.Json();
        var cmd = new Command("bench", "Benchmark ingestion of a folder and search latency at several index sizes.") { corpus, sizes, queries, work, uniform, json };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var dir = parse.GetValue(work) ?? Path.Combine(Path.GetTempPath(), "edgellm-manuals-bench-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            try
            {
                var result = await KnowledgeBenchmark.RunAsync(parse.GetValue(corpus)!, dir, parse.GetValue(sizes)!, parse.GetValue(queries),
                    parse.GetValue(uniform), line => Console.Error.WriteLine(line), ct).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    CliOutput.WriteJson(result);
                }
                else
                {
                    Console.WriteLine($"ingest   {result.Documents} documents, {result.Chunks} chunks in {result.IngestSeconds:F2} s ({result.ChunksPerSecond:F0} chunks/s)");
                    foreach (var s in result.Searches)
                    {
                        Console.WriteLine($"search   {s.Chunks,7} chunks: p50 {s.P50Ms:F2} ms, p95 {s.P95Ms:F2} ms, p99 {s.P99Ms:F2} ms ({s.Queries} queries)");
                    }
                }

                return 0;
            }
            finally
            {
                if (parse.GetValue(work) is null && Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }));
        return cmd;
    }

    private static KnowledgeBase Open(ParseResult parse, Option<string?> dataDir, Option<string?> config) =>
        KnowledgeBase.Open(Path.Combine(DevicePaths.DataDir(parse, dataDir), KnowledgeBase.FileName), ReadOptions(parse.GetValue(config)));

    /// <summary>The <c>Knowledge</c> section of the configuration file; defaults when there is no file.</summary>
    internal static KnowledgeOptions ReadOptions(string? configPath)
    {
        var path = configPath ?? (File.Exists(DefaultConfig) ? DefaultConfig : null);
        if (path is null)
        {
            return new KnowledgeOptions();
        }

        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var section = doc.RootElement.EnumerateObject().FirstOrDefault(p => p.Name.Equals("Knowledge", StringComparison.OrdinalIgnoreCase));
        if (section.Value.ValueKind != JsonValueKind.Object)
        {
            return new KnowledgeOptions();
        }

        var options = section.Value.Deserialize<KnowledgeOptions>(ConfigJson)!;
        var errors = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), errors, validateAllProperties: true))
        {
            throw new ArgumentException($"{path}: Knowledge: {string.Join("; ", errors.Select(e => e.ErrorMessage))}");
        }

        return options;
    }

    /// <summary>Counts chunk budgets with the model's own tokenizer (no BOS/EOS: chunks sit inside a prompt).</summary>
    internal static ITokenCounter HfTokenCounter(HfTokenizer tokenizer) =>
        new DelegateTokenCounter(text => tokenizer.Encode(text, addSpecialTokens: false).Length);

    /// <summary>A progress bar on stderr, drawn on the ingesting thread so it never interleaves with the summary.</summary>
    private sealed class ProgressBar : IProgress<IngestProgress>
    {
        public void Report(IngestProgress value) =>
            Console.Error.Write($"\r[{new string('#', value.Done * 30 / value.Total),-30}] {value.Done}/{value.Total} {Path.GetFileName(value.Path),-40}");
    }
}
