using System.Globalization;
using EdgeLlm.Knowledge.Chunking;
using EdgeLlm.Knowledge.Documents;
using EdgeLlm.Knowledge.Ingestion;
using EdgeLlm.Knowledge.Retrieval;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge;

/// <summary>
/// The manuals on the device: ingestion of PDF, Markdown, HTML and text files into <c>knowledge.db</c> (SQLite,
/// WAL, one transaction per document, or per set of documents for <see cref="ReplaceSourceAsync"/>) and BM25 retrieval
/// over FTS5 with citations. One instance per connection; its methods are safe to call from several threads (they take
/// turns on one connection), and other instances, in this process or another, see each commit whole.
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

    /// <summary>The indexed documents, by file name, each with the set it was installed with (if any).</summary>
    public IReadOnlyList<KnowledgeDocument> List()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                SELECT d.id, d.file_name, d.path, d.title, d.format, (SELECT count(*) FROM chunks c WHERE c.document_id = d.id),
                       d.bytes, d.hash, d.ingested_at, d.source_path, s.name, s.version, s.digest
                FROM documents d LEFT JOIN sources s ON s.name = d.source ORDER BY d.file_name, d.path
                """;
            using var r = cmd.ExecuteReader();
            var list = new List<KnowledgeDocument>();
            while (r.Read())
            {
                list.Add(new KnowledgeDocument(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5),
                    r.GetInt64(6), r.GetString(7), DateTimeOffset.Parse(r.GetString(8), CultureInfo.InvariantCulture))
                {
                    SourcePath = r.IsDBNull(9) ? null : r.GetString(9),
                    Source = r.IsDBNull(10) ? null : new DocumentSource(r.GetString(10), r.GetString(11), r.GetString(12)),
                });
            }

            return list;
        }
    }

    /// <summary>The installed version of the set of documents named <paramref name="name"/>, or null when none is.</summary>
    public DocumentSource? Source(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT name, version, digest FROM sources WHERE name = $n";
            cmd.Parameters.AddWithValue("$n", name);
            using var r = cmd.ExecuteReader();
            return r.Read() ? new DocumentSource(r.GetString(0), r.GetString(1), r.GetString(2)) : null;
        }
    }

    /// <summary>
    /// Makes the documents of <paramref name="source"/> exactly the manuals under <paramref name="folder"/> (recursively:
    /// .pdf, .md, .markdown, .html, .htm, .txt; other files are skipped), in one transaction: a reader sees the whole old
    /// set or the whole new one. Documents are matched to the old set by their path relative to the folder; a file whose
    /// content is already indexed only moves to its new path, a changed one replaces only its changed chunks, and documents
    /// of the old set missing from the folder are removed. Documents of other sources, or ingested on their own, are not
    /// touched. Every file is read, parsed and chunked before the transaction begins: if any of them fails (or the folder
    /// holds no manual), nothing changes and <see cref="ReplaceSourceResult.Error"/> names the files.
    /// </summary>
    /// <param name="source">The set's name, version and content digest, recorded with it.</param>
    /// <param name="folder">Where the files are; the documents keep their full paths here, so the files should stay.</param>
    /// <param name="tokenCounter">Measures chunk budgets; default <see cref="EstimatingTokenCounter"/>.</param>
    /// <param name="cancellationToken">Stops while files are read; once the transaction has begun it completes or rolls back whole.</param>
    public Task<ReplaceSourceResult> ReplaceSourceAsync(DocumentSource source, string folder, ITokenCounter? tokenCounter = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(source.Name);
        ArgumentNullException.ThrowIfNull(folder);
        return Task.Run(() => ReplaceSource(source, Path.GetFullPath(folder), tokenCounter ?? EstimatingTokenCounter.Instance, cancellationToken), cancellationToken);
    }

    /// <summary>Removes a document and its chunks; false when no document has that id.</summary>
    public bool Remove(long documentId)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            var removed = Delete(tx, documentId);
            tx.Commit();
            _vocabulary = null;
            return removed;
        }
    }

    public void Dispose() => _db.Dispose();

    /// <summary>
    /// Called inside <see cref="ReplaceSourceAsync"/>'s transaction with <c>removed</c> (the old set's missing documents are
    /// deleted, nothing new is written yet) and <c>written</c> (just before the commit): the seam the crash tests use.
    /// </summary>
    internal Action<string>? WriteStep { get; set; }

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

    private ReplaceSourceResult ReplaceSource(DocumentSource source, string root, ITokenCounter tokenCounter, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"{root}: no such folder");
        }

        var all = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => (Full: f, Key: Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')))
            .OrderBy(f => f.Key, StringComparer.Ordinal)
            .ToList();
        var skipped = all.Where(f => DocumentLoader.FormatOf(f.Full) is null).Select(f => f.Key).ToList();
        var files = all.Where(f => DocumentLoader.FormatOf(f.Full) is not null).ToList();
        if (files.Count == 0)
        {
            return new ReplaceSourceResult(source, [], [], skipped) { Error = $"{root}: no manuals (.pdf, .md, .html, .txt) in the folder" };
        }

        Dictionary<string, SourceDocument> known;
        lock (_gate)
        {
            known = SourceDocuments(null, source.Name);
        }

        // All the slow work (reading, parsing, chunking) happens here, outside the transaction, so readers and other
        // writers wait for no more than the writes themselves.
        var chunker = new Chunker(tokenCounter, _options.ChunkTokens, _options.OverlapTokens);
        var prepared = new List<PreparedFile>(files.Count);
        var failed = new List<IngestFileResult>();
        foreach (var (path, key) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var (bytes, hash) = DocumentLoader.ReadBytes(path, _options.MaxFileBytes);
                if (known.TryGetValue(key, out var same) && same.Hash == hash)
                {
                    prepared.Add(new PreparedFile(path, key, hash, bytes.LongLength, null, null));
                    continue;
                }

                var doc = DocumentLoader.Parse(path, bytes);
                var chunks = chunker.Chunk(doc);
                if (chunks.Count == 0)
                {
                    failed.Add(Failed(path, $"{path}: no text found; is the file empty?"));
                    continue;
                }

                prepared.Add(new PreparedFile(path, key, hash, bytes.LongLength, doc, chunks));
            }
            catch (DocumentException ex)
            {
                failed.Add(Failed(path, ex.Message));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                failed.Add(Failed(path, $"{path}: cannot read ({ex.Message})"));
            }
        }

        if (failed.Count > 0)
        {
            var error = string.Create(CultureInfo.InvariantCulture, $"{failed.Count} of {files.Count} files cannot be indexed: ")
                + string.Join("; ", failed.Select(f => f.Error));
            return new ReplaceSourceResult(source, failed, [], skipped) { Error = error };
        }

        lock (_gate)
        {
            return WriteSource(source, prepared, skipped);
        }
    }

    private ReplaceSourceResult WriteSource(DocumentSource source, List<PreparedFile> files, List<string> skipped)
    {
        var now = _time.GetUtcNow();
        using var tx = _db.BeginTransaction();
        // Read again under the write lock: what was compared outside it may have changed since (another process).
        var current = SourceDocuments(tx, source.Name);
        var keys = files.Select(f => f.Key).ToHashSet(StringComparer.Ordinal);
        var removed = new List<string>();
        foreach (var (key, doc) in current.Where(d => !keys.Contains(d.Key)).OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            Delete(tx, doc.Id);
            removed.Add(key);
        }

        WriteStep?.Invoke("removed");
        Exec(tx, """
            INSERT INTO sources(name, version, digest, installed_at) VALUES ($n, $v, $d, $at)
            ON CONFLICT(name) DO UPDATE SET version = excluded.version, digest = excluded.digest, installed_at = excluded.installed_at
            """, ("$n", source.Name), ("$v", source.Version), ("$d", source.Digest), ("$at", now.ToString("O", CultureInfo.InvariantCulture)));
        var results = new List<IngestFileResult>(files.Count);
        foreach (var f in files)
        {
            var existing = current.GetValueOrDefault(f.Key);
            if (f.Doc is null)
            {
                if (existing is null || existing.Hash != f.Hash)
                {
                    // Rolled back by the using: nothing of this set was committed.
                    return new ReplaceSourceResult(source, [], [], skipped)
                    {
                        Error = $"{f.Path}: the index changed while the files were read (another writer); nothing was changed, try again",
                    };
                }

                Exec(tx, "UPDATE documents SET path = $p, file_name = $f WHERE id = $id", ("$p", f.Path), ("$f", Path.GetFileName(f.Path)), ("$id", existing.Id));
                results.Add(new IngestFileResult(f.Path, IngestStatus.Unchanged, existing.Id, existing.Chunks, 0, 0, null));
                continue;
            }

            var row = new DocumentRow(f.Path, f.Hash, f.Bytes, now, source.Name, f.Key);
            results.Add(DocumentWriter.Write(tx, existing is null ? null : (existing.Id, existing.Title), row, f.Doc, f.Chunks!));
        }

        WriteStep?.Invoke("written");
        tx.Commit();
        _vocabulary = null;
        return new ReplaceSourceResult(source, results, removed, skipped);
    }

    /// <summary>The documents of a source by their path in it; inside <paramref name="tx"/> when given.</summary>
    private Dictionary<string, SourceDocument> SourceDocuments(SqliteTransaction? tx, string source)
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            SELECT source_path, id, hash, title, (SELECT count(*) FROM chunks WHERE document_id = documents.id)
            FROM documents WHERE source = $s
            """;
        cmd.Parameters.AddWithValue("$s", source);
        using var r = cmd.ExecuteReader();
        var docs = new Dictionary<string, SourceDocument>(StringComparer.Ordinal);
        while (r.Read())
        {
            docs[r.GetString(0)] = new SourceDocument(r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetInt32(4));
        }

        return docs;
    }

    private static bool Delete(SqliteTransaction tx, long documentId)
    {
        Exec(tx, "DELETE FROM chunk_index WHERE rowid IN (SELECT id FROM chunks WHERE document_id = $d)", ("$d", documentId));
        Exec(tx, "DELETE FROM chunks WHERE document_id = $d", ("$d", documentId));
        return Exec(tx, "DELETE FROM documents WHERE id = $d", ("$d", documentId)) > 0;
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

    private sealed record SourceDocument(long Id, string Hash, string Title, int Chunks);

    /// <summary>A file read and, unless its content is already indexed (<see cref="Doc"/> null), parsed and chunked.</summary>
    private sealed record PreparedFile(string Path, string Key, string Hash, long Bytes, ParsedDocument? Doc, List<Chunk>? Chunks);
}
