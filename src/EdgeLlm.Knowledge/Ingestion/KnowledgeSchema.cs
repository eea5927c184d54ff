using System.Globalization;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Ingestion;

/// <summary>
/// The tables of knowledge.db. Chunk text lives in <c>chunks</c>; <c>chunk_index</c> is a contentless FTS5 table
/// over our own analyzed terms (see TextAnalyzer) with four columns: title, headings, body and codes. The analyzed
/// terms are kept in <c>chunks</c> too, so that re-scoring candidates needs no second analysis. Documents installed
/// as a set (a manuals bundle) name their <c>source</c> and their path inside it; <c>sources</c> holds the version
/// of each set.
/// </summary>
/// <remarks>
/// <c>PRAGMA user_version</c> is the schema version; <see cref="Migrations"/>[i] takes version i to i + 1, and every
/// step due runs in one transaction, so a crash mid-migration leaves the previous version.
/// </remarks>
internal static class KnowledgeSchema
{
    /// <summary>BM25 column weights: a heading naming the subject says more than a word in the body.</summary>
    public const string Rank = "bm25(2.0, 4.0, 1.0, 3.0)";

    private static readonly string[] Migrations =
    [
        $"""
        CREATE TABLE documents(
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            file_name TEXT NOT NULL,
            title TEXT NOT NULL,
            format TEXT NOT NULL,
            hash TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            ingested_at TEXT NOT NULL);
        CREATE TABLE chunks(
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            ordinal INTEGER NOT NULL,
            heading TEXT NOT NULL,
            page INTEGER,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            hash TEXT NOT NULL,
            text TEXT NOT NULL,
            terms TEXT NOT NULL,
            codes TEXT NOT NULL);
        CREATE INDEX chunks_by_document ON chunks(document_id, hash);
        CREATE VIRTUAL TABLE chunk_index USING fts5(title, headings, body, codes,
            content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0');
        INSERT INTO chunk_index(chunk_index, rank) VALUES('rank', '{Rank}');
        CREATE VIRTUAL TABLE chunk_terms USING fts5vocab(chunk_index, 'row');
        """,
        """
        CREATE TABLE sources(
            name TEXT PRIMARY KEY,
            version TEXT NOT NULL,
            digest TEXT NOT NULL,
            installed_at TEXT NOT NULL);
        ALTER TABLE documents ADD COLUMN source TEXT REFERENCES sources(name);
        ALTER TABLE documents ADD COLUMN source_path TEXT;
        CREATE UNIQUE INDEX documents_by_source ON documents(source, source_path) WHERE source IS NOT NULL;
        """,
    ];

    /// <summary>The schema version this build writes.</summary>
    public static int Version => Migrations.Length;

    /// <summary>Sets WAL mode and brings the schema to <paramref name="target"/> (default: <see cref="Version"/>).</summary>
    public static void Apply(SqliteConnection db, int? target = null)
    {
        var wanted = target ?? Version;
        using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;";
        cmd.ExecuteNonQuery();
        if (UserVersion(cmd) == wanted)
        {
            return;
        }

        using var tx = db.BeginTransaction();
        cmd.Transaction = tx;
        // Read again under the write lock: another process may have migrated since.
        var version = UserVersion(cmd);
        if (version > Version)
        {
            throw new InvalidOperationException($"knowledge.db has schema version {version}, this build knows {Version}; update edgellm or re-create the index");
        }

        for (; version < wanted; version++)
        {
            cmd.CommandText = Migrations[version] + string.Create(CultureInfo.InvariantCulture, $"\nPRAGMA user_version = {version + 1};");
            cmd.ExecuteNonQuery();
        }

        tx.Commit();
    }

    private static int UserVersion(SqliteCommand cmd)
    {
        cmd.CommandText = "PRAGMA user_version";
        return Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }
}
