using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Storage;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Agent.Tests;

public sealed class StorageTests
{
    private static long Count(string path)
    {
        using var c = AgentDatabase.Open(path);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM query_log";
        return (long)cmd.ExecuteScalar()!;
    }

    private static QueryLogEntry Entry(DateTimeOffset at, string id) => new(at, id, "auto", "q", "a", "stop", 3, 4, 5.0);

    [Fact]
    public async Task Query_log_is_written_in_wal_mode_and_kept_by_age_and_count()
    {
        using var dir = TestPaths.NewTempDir();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 10, 0, 0, 0, TimeSpan.Zero));
        var options = Options.Create(new AgentOptions { DataDir = dir.Path, QueryLogRetentionDays = 5, QueryLogMaxEntries = 10 });
        using (var db = new AgentDatabase(options, time, NullLogger<AgentDatabase>.Instance))
        {
            await db.StartAsync(CancellationToken.None);
            Assert.Equal("2026-01-10T00:00:00.0000000+00:00", db.GetState("last_start"));
            db.Log(Entry(time.GetUtcNow().AddDays(-9), "old"));
            for (var i = 0; i < 15; i++)
            {
                db.Log(Entry(time.GetUtcNow(), $"new{i}"));
            }

            await db.StopAsync(CancellationToken.None);
            Assert.Equal(16, Count(db.Path));
            db.ApplyRetention();
        }

        var path = Path.Combine(dir.Path, "agent.db");
        Assert.Equal(10, Count(path));
        using var c = AgentDatabase.Open(path);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode; ";
        Assert.Equal("wal", cmd.ExecuteScalar());
        cmd.CommandText = "SELECT MIN(request_id) FROM query_log WHERE request_id = 'old'";
        Assert.IsType<DBNull>(cmd.ExecuteScalar());
    }

    [Fact]
    public async Task Query_log_can_be_turned_off()
    {
        using var dir = TestPaths.NewTempDir();
        var options = Options.Create(new AgentOptions { DataDir = dir.Path, QueryLog = false });
        using var db = new AgentDatabase(options, TimeProvider.System, NullLogger<AgentDatabase>.Instance);
        await db.StartAsync(CancellationToken.None);
        db.Log(Entry(DateTimeOffset.UnixEpoch, "x"));
        await db.StopAsync(CancellationToken.None);
        Assert.Equal(0, Count(db.Path));
    }
}
