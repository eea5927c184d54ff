using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Tests;

/// <summary>Reads knowledge.db directly (a second connection; WAL lets it read beside the writer).</summary>
internal static class KnowledgeBaseProbe
{
    /// <summary>The row id of the one chunk whose deepest heading is <paramref name="heading"/>.</summary>
    public static long ChunkId(KnowledgeBase kb, string heading)
    {
        using var db = new SqliteConnection($"Data Source={kb.DatabasePath};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT id, heading FROM chunks";
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

    public static long Count(KnowledgeBase kb, string table)
    {
        using var db = new SqliteConnection($"Data Source={kb.DatabasePath};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT count(*) FROM {table}";
        return (long)cmd.ExecuteScalar()!;
    }
}
