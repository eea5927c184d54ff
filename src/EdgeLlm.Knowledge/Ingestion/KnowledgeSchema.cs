using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Ingestion;

/// <summary>
/// The tables of knowledge.db. Chunk text lives in <c>chunks</c>; <c>chunk_index</c> is a contentless FTS5 table
/// over our own analyzed terms (see TextAnalyzer) with four columns: title, headings, body and codes. The analyzed
/// terms are kept in <c>chunks</c> too, so that re-scoring candidates needs no second analysis.
/// </summary>
internal static class KnowledgeSchema
{
    /// <summary>BM25 column weights: a heading naming the subject says more than a word in the body.</summary>
    public const string Rank = "bm25(2.0, 4.0, 1.0, 3.0)";

    private const int Version = 1;

    public static void Apply(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;";
        cmd.ExecuteNonQuery();
        cmd.CommandText = "PRAGMA user_version";
        var version = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (version == Version)
        {
            return;
        }

        if (version != 0)
        {
            throw new InvalidOperationException($"knowledge.db has schema version {version}, this build knows {Version}; re-create the index");
        }

        using var tx = db.BeginTransaction();
        cmd.Transaction = tx;
        cmd.CommandText = $"""
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
            PRAGMA user_version = {Version};
            """;
        cmd.ExecuteNonQuery();
        tx.Commit();
    }
}
