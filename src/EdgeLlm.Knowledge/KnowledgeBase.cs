using System.Globalization;
using EdgeLlm.Knowledge.Chunking;
using EdgeLlm.Knowledge.Documents;
using EdgeLlm.Knowledge.Ingestion;
using EdgeLlm.Knowledge.Retrieval;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge;

/// <summary>
/// The manuals on the device: ingestion of PDF, Markdown, HTML and text files into <c>knowledge.db</c> (SQLite,
/// WAL, one transaction per document) and BM25 retrieval over FTS5 with citations. One instance per database;
/// its methods are safe to call from several threads (they take turns on one connection).
/// </summary>
public sealed class KnowledgeBase : IDisposable
{
    /// <summary>The database file name inside the device's data directory.</summary>
    public const string FileName = "knowledge.db";

    private const char HeadingSeparator = '\u001f';

    private readonly SqliteConnection _db;
    private readonly KnowledgeOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private Vocabulary? _vocabulary;

    private KnowledgeBase(string path, SqliteConnection db, KnowledgeOptions options, TimeProvider time)
    {
        DatabasePath = path;
        _db = db;
        _options = options;
        _time = time;
    }

    public KnowledgeOptions Options => _options;

    /// <summary>The full path of the database file.</summary>
    public string DatabasePath { get; }

    /// <summary>Opens (creating if needed) the index at <paramref name="dbPath"/>; its folder is created too.</summary>
    public static KnowledgeBase Open(string dbPath, KnowledgeOptions? options = null, TimeProvider? time = null)
    {
        var full = Path.GetFullPath(dbPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        try
        {
            db.Open();
            KnowledgeSchema.Apply(db);
        }
        catch (SqliteException ex)
        {
            db.Dispose();
            throw new DocumentException($"{full}: cannot open the manuals index ({ex.Message}); check the path and its permissions", ex);
        }

        return new KnowledgeBase(full, db, options ?? new KnowledgeOptions(), time ?? TimeProvider.System);
    }

    /// <summary>
    /// Ingests files and folders (recursively: .pdf, .md, .markdown, .html, .htm, .txt). Each file is one
    /// transaction; a file that fails is reported in its result and the batch goes on. An unchanged file costs
    /// a hash check; a changed one replaces only the chunks whose text or heading changed.
    /// </summary>
    /// <param name="paths">Files and folders.</param>
    /// <param name="tokenCounter">Measures chunk budgets; default <see cref="EstimatingTokenCounter"/>.</param>
    /// <param name="progress">Told after each file.</param>
    /// <param name="cancellationToken">Stops between files; a file in progress completes or rolls back whole.</param>
    public Task<IReadOnlyList<IngestFileResult>> IngestAsync(IEnumerable<string> paths, ITokenCounter? tokenCounter = null,
        IProgress<IngestProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var files = Expand(paths);
        return Task.Run<IReadOnlyList<IngestFileResult>>(() =>
        {
            var chunker = new Chunker(tokenCounter ?? EstimatingTokenCounter.Instance, _options.ChunkTokens, _options.OverlapTokens);
            var results = new List<IngestFileResult>(files.Count);
            foreach (var (path, expansionError) in files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                results.Add(expansionError is null ? IngestFile(path, chunker) : Failed(path, expansionError));
                progress?.Report(new IngestProgress(results.Count, files.Count, path));
            }

            return results;
        }, cancellationToken);
    }

    /// <summary>
    /// The <paramref name="k"/> best passages for a question (BM25 over title, headings and body, plus part numbers
    /// and codes), each with a score in 0–1 and a citation.
    /// </summary>
    public SearchResults Search(string query, int k = 5)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        lock (_gate)
        {
            return Searcher.Search(_db, LoadVocabulary(), query, k, _options.RelevanceFloor);
        }
    }

    /// <summary>The indexed documents, by file name.</summary>
    public IReadOnlyList<KnowledgeDocument> List()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                SELECT d.id, d.file_name, d.path, d.title, d.format, (SELECT count(*) FROM chunks c WHERE c.document_id = d.id),
                       d.bytes, d.hash, d.ingested_at
                FROM documents d ORDER BY d.file_name, d.path
                """;
            using var r = cmd.ExecuteReader();
            var list = new List<KnowledgeDocument>();
            while (r.Read())
            {
                list.Add(new KnowledgeDocument(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5),
                    r.GetInt64(6), r.GetString(7), DateTimeOffset.Parse(r.GetString(8), CultureInfo.InvariantCulture)));
            }

            return list;
        }
    }

    /// <summary>Removes a document and its chunks; false when no document has that id.</summary>
    public bool Remove(long documentId)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            Exec(tx, "DELETE FROM chunk_index WHERE rowid IN (SELECT id FROM chunks WHERE document_id = $d)", ("$d", documentId));
            Exec(tx, "DELETE FROM chunks WHERE document_id = $d", ("$d", documentId));
            var removed = Exec(tx, "DELETE FROM documents WHERE id = $d", ("$d", documentId)) > 0;
            tx.Commit();
            _vocabulary = null;
            return removed;
        }
    }

    public void Dispose() => _db.Dispose();

    private static List<(string Path, string? Error)> Expand(IEnumerable<string> paths)
    {
        var files = new List<(string, string?)>();
        foreach (var p in paths)
        {
            var full = Path.GetFullPath(p);
            if (Directory.Exists(full))
            {
                files.AddRange(Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories)
                    .Where(f => DocumentLoader.FormatOf(f) is not null)
                    .Order(StringComparer.Ordinal)
                    .Select(f => (f, (string?)null)));
            }
            else
            {
                files.Add((full, File.Exists(full) ? null : $"{p}: no such file or folder"));
            }
        }

        return files;
    }

    private static IngestFileResult Failed(string path, string error) => new(path, IngestStatus.Failed, null, 0, 0, 0, error);

    private IngestFileResult IngestFile(string path, Chunker chunker)
    {
        byte[] bytes;
        string hash;
        ParsedDocument doc;
        try
        {
            (bytes, hash) = DocumentLoader.ReadBytes(path, _options.MaxFileBytes);
            lock (_gate)
            {
                var known = KnownDocument(path);
                if (known is { } d && d.Hash == hash)
                {
                    return new IngestFileResult(path, IngestStatus.Unchanged, d.Id, d.Chunks, 0, 0, null);
                }
            }

            doc = DocumentLoader.Parse(path, bytes);
        }
        catch (DocumentException ex)
        {
            return Failed(path, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed(path, $"{path}: cannot read ({ex.Message})");
        }

        var chunks = chunker.Chunk(doc);
        if (chunks.Count == 0)
        {
            return Failed(path, $"{path}: no text found; is the file empty?");
        }

        lock (_gate)
        {
            var result = DocumentWriter.Write(_db, path, doc, chunks, hash, bytes.LongLength, _time.GetUtcNow());
            _vocabulary = null;
            return result;
        }
    }

    private (long Id, string Hash, int Chunks)? KnownDocument(string path)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT id, hash, (SELECT count(*) FROM chunks WHERE document_id = documents.id) FROM documents WHERE path = $p";
        cmd.Parameters.AddWithValue("$p", path);
        using var r = cmd.ExecuteReader();
        return r.Read() ? (r.GetInt64(0), r.GetString(1), r.GetInt32(2)) : null;
    }

    private Vocabulary LoadVocabulary()
    {
        if (_vocabulary is not null)
        {
            return _vocabulary;
        }

        var df = new Dictionary<string, int>(StringComparer.Ordinal);
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT term, doc FROM chunk_terms";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                df[r.GetString(0)] = r.GetInt32(1);
            }
        }

        using var count = _db.CreateCommand();
        count.CommandText = "SELECT count(*) FROM chunks";
        _vocabulary = new Vocabulary(df, Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture));
        return _vocabulary;
    }

    /// <summary>The text of every chunk with its document id (for the benchmark's generated corpus and questions).</summary>
    internal List<(long DocumentId, string Text)> SampleTexts()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT document_id, text FROM chunks ORDER BY id";
            using var r = cmd.ExecuteReader();
            var texts = new List<(long, string)>();
            while (r.Read())
            {
                texts.Add((r.GetInt64(0), r.GetString(1)));
            }

            return texts;
        }
    }

    internal static string JoinHeadings(IReadOnlyList<string> path) => string.Join(HeadingSeparator, path);

    internal static string[] SplitHeadings(string joined) => joined.Length == 0 ? [] : joined.Split(HeadingSeparator);

    internal static int Exec(SqliteTransaction tx, string sql, params (string Name, object? Value)[] args)
    {
        using var cmd = tx.Connection!.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return cmd.ExecuteNonQuery();
    }
}
