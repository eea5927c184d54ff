using EdgeLlm.Knowledge.Chunking;
using EdgeLlm.Knowledge.Documents;
using EdgeLlm.Knowledge.Retrieval;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Ingestion;

/// <summary>
/// Where and what a document row says, apart from its parsed content; a document of a set also names the set
/// (<c>Source</c>) and its path inside it (<c>SourcePath</c>).
/// </summary>
internal sealed record DocumentRow(string Path, string Hash, long Bytes, DateTimeOffset IngestedAt, string? Source = null, string? SourcePath = null);

/// <summary>
/// Writes one document in one transaction. Chunks whose hash (heading path + text) is already stored for the
/// document keep their row and index entry, only their position is updated; the rest are inserted or deleted.
/// </summary>
internal static class DocumentWriter
{
    /// <summary>Writes the document at <paramref name="path"/> (found by path) in a transaction of its own.</summary>
    public static IngestFileResult Write(SqliteConnection db, string path, ParsedDocument doc, List<Chunk> chunks, string hash, long bytes, DateTimeOffset now)
    {
        using var tx = db.BeginTransaction();
        var result = Write(tx, Find(tx, path), new DocumentRow(path, hash, bytes, now), doc, chunks);
        tx.Commit();
        return result;
    }

    /// <summary>
    /// Writes a document inside the caller's transaction, over <paramref name="existing"/> (its id and title) or as a new
    /// row. A row with a <see cref="DocumentRow.Source"/> also moves the existing one to its path and source.
    /// </summary>
    public static IngestFileResult Write(SqliteTransaction tx, (long Id, string Title)? existing, DocumentRow row, ParsedDocument doc, List<Chunk> chunks)
    {
        var id = Upsert(tx, existing, row, doc);
        var oldTitle = existing?.Title;

        // A changed title is part of every chunk's indexed text, so then nothing can be kept.
        var old = new Dictionary<string, Queue<long>>(StringComparer.Ordinal);
        if (oldTitle == doc.Title)
        {
            using var cmd = Command(tx, "SELECT id, hash FROM chunks WHERE document_id = $d ORDER BY ordinal", ("$d", id));
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var h = r.GetString(1);
                if (!old.TryGetValue(h, out var ids))
                {
                    old[h] = ids = new Queue<long>();
                }

                ids.Enqueue(r.GetInt64(0));
            }
        }

        using var move = Command(tx, "UPDATE chunks SET ordinal = $o, page = $p, start = $s, end = $e WHERE id = $id",
            ("$o", 0), ("$p", null), ("$s", 0), ("$e", 0), ("$id", 0L));
        using var insert = Command(tx, """
            INSERT INTO chunks(document_id, ordinal, heading, page, start, end, hash, text, terms, codes)
            VALUES ($d, $o, $h, $p, $s, $e, $hash, $t, $terms, $codes)
            RETURNING id
            """, ("$d", id), ("$o", 0), ("$h", ""), ("$p", null), ("$s", 0), ("$e", 0), ("$hash", ""), ("$t", ""), ("$terms", ""), ("$codes", ""));
        using var index = Command(tx, "INSERT INTO chunk_index(rowid, title, headings, body, codes) VALUES ($id, $ti, $he, $b, $c)",
            ("$id", 0L), ("$ti", ""), ("$he", ""), ("$b", ""), ("$c", ""));
        var titleTerms = string.Join(' ', TextAnalyzer.Terms(doc.Title));
        var added = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            if (old.TryGetValue(c.Hash, out var kept) && kept.Count > 0)
            {
                Run(move, i, c.Page, c.Start, c.End, kept.Dequeue());
                continue;
            }

            insert.Parameters["$o"].Value = i;
            insert.Parameters["$h"].Value = KnowledgeBase.JoinHeadings(c.HeadingPath);
            insert.Parameters["$p"].Value = (object?)c.Page ?? DBNull.Value;
            insert.Parameters["$s"].Value = c.Start;
            insert.Parameters["$e"].Value = c.End;
            insert.Parameters["$hash"].Value = c.Hash;
            insert.Parameters["$t"].Value = c.Text;
            var heading = string.Join(' ', c.HeadingPath);
            var headingTerms = string.Join(' ', TextAnalyzer.Terms(heading));
            var bodyTerms = string.Join(' ', TextAnalyzer.Terms(c.Text));
            var codes = string.Join(' ', TextAnalyzer.Codes(doc.Title + "\n" + heading + "\n" + c.Text));
            insert.Parameters["$terms"].Value = string.Join(' ', new[] { titleTerms, headingTerms, bodyTerms }.Where(t => t.Length > 0));
            insert.Parameters["$codes"].Value = codes;
            var rowId = (long)insert.ExecuteScalar()!;
            index.Parameters["$id"].Value = rowId;
            index.Parameters["$ti"].Value = titleTerms;
            index.Parameters["$he"].Value = headingTerms;
            index.Parameters["$b"].Value = bodyTerms;
            index.Parameters["$c"].Value = codes;
            index.ExecuteNonQuery();
            added++;
        }

        var removed = 0;
        foreach (var staleId in old.Values.SelectMany(q => q))
        {
            KnowledgeBase.Exec(tx, "DELETE FROM chunk_index WHERE rowid = $id", ("$id", staleId));
            KnowledgeBase.Exec(tx, "DELETE FROM chunks WHERE id = $id", ("$id", staleId));
            removed++;
        }

        return new IngestFileResult(row.Path, oldTitle is null ? IngestStatus.Added : IngestStatus.Updated, id, chunks.Count, added, removed, null);
    }

    private static (long Id, string Title)? Find(SqliteTransaction tx, string path)
    {
        using var find = Command(tx, "SELECT id, title FROM documents WHERE path = $p", ("$p", path));
        using var r = find.ExecuteReader();
        return r.Read() ? (r.GetInt64(0), r.GetString(1)) : null;
    }

    private static long Upsert(SqliteTransaction tx, (long Id, string Title)? existing, DocumentRow row, ParsedDocument doc)
    {
        var args = new (string, object?)[]
        {
            ("$p", row.Path), ("$f", Path.GetFileName(row.Path)), ("$t", doc.Title), ("$fmt", doc.Format), ("$h", row.Hash), ("$b", row.Bytes),
            ("$at", row.IngestedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), ("$src", row.Source), ("$sp", row.SourcePath),
            ("$id", existing?.Id),
        };
        if (existing is not { } known)
        {
            using var insert = Command(tx, """
                INSERT INTO documents(path, file_name, title, format, hash, bytes, ingested_at, source, source_path)
                VALUES ($p, $f, $t, $fmt, $h, $b, $at, $src, $sp) RETURNING id
                """, args[..^1]);
            return (long)insert.ExecuteScalar()!;
        }

        // A file ingested on its own keeps the source a set gave it: `manuals add` over a bundle's file is an update.
        KnowledgeBase.Exec(tx, """
            UPDATE documents SET path = $p, file_name = $f, title = $t, format = $fmt, hash = $h, bytes = $b, ingested_at = $at,
                source = coalesce($src, source), source_path = coalesce($sp, source_path)
            WHERE id = $id
            """, args);
        if (known.Title != doc.Title)
        {
            // Every chunk is re-indexed under the new title.
            KnowledgeBase.Exec(tx, "DELETE FROM chunk_index WHERE rowid IN (SELECT id FROM chunks WHERE document_id = $id)", ("$id", known.Id));
            KnowledgeBase.Exec(tx, "DELETE FROM chunks WHERE document_id = $id", ("$id", known.Id));
        }

        return known.Id;
    }

    private static void Run(SqliteCommand move, int ordinal, int? page, int start, int end, long id)
    {
        move.Parameters["$o"].Value = ordinal;
        move.Parameters["$p"].Value = (object?)page ?? DBNull.Value;
        move.Parameters["$s"].Value = start;
        move.Parameters["$e"].Value = end;
        move.Parameters["$id"].Value = id;
        move.ExecuteNonQuery();
    }

    private static SqliteCommand Command(SqliteTransaction tx, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = tx.Connection!.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return cmd;
    }
}
