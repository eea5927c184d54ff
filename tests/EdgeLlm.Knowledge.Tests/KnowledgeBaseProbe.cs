using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Tests;

/// <summary>Reads knowledge.db directly (a second connection; WAL lets it read beside the writer).</summary>
internal static class KnowledgeBaseProbe
{
    /// <summary>The row id of the one chunk (of document <paramref name="documentId"/>, if given) whose deepest heading is <paramref name="heading"/>.</summary>
    public static long ChunkId(KnowledgeBase kb, string heading, long? documentId = null)
    {
        using var db = new SqliteConnection($"Data Source={kb.DatabasePath};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT id, heading FROM chunks WHERE $d IS NULL OR document_id = $d";
        cmd.Parameters.AddWithValue("$d", (object?)documentId ?? DBNull.Value);
        using var r = cmd.ExecuteReader();
        var ids = new List<long>();
        while (r.Read())
        {
            if (KnowledgeBase.SplitHeadings(r.GetString(1))[^1] == heading)
            {
                ids.Add(r.GetInt64(0));
            }
        }

        return Assert.Single(ids);
    }

    public static long Count(KnowledgeBase kb, string table) => Scalar(kb, $"SELECT count(*) FROM {table}");

    public static long Scalar(KnowledgeBase kb, string sql)
    {
        using var db = new SqliteConnection($"Data Source={kb.DatabasePath};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return (long)cmd.ExecuteScalar()!;
    }
}
