using EdgeLlm.Fleet.Storage;
using EdgeLlm.Runtime.Tests;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Fleet.Tests.Storage;

/// <summary>The conformance tests on <see cref="SqliteFleetStore"/>: a fresh folder (and fleet.db) per database.</summary>
public sealed class SqliteFleetStoreTests : FleetStoreConformanceTests
{
    private readonly List<TempDir> _dirs = [];

    [Fact]
    public async Task TheDatabase_IsDataDirFleetDb_InWalMode()
    {
        var file = ((SqliteFleetStore)Store).Path;
        Assert.Equal(Path.Combine(_dirs[0].Path, "fleet.db"), file);
        Assert.True(File.Exists(file));
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = new SqliteCommand("PRAGMA journal_mode", connection);
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task RecentErrors_ReadThePartialIndex_NotAllTelemetry()
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = ((SqliteFleetStore)Store).Path, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = new SqliteCommand("EXPLAIN QUERY PLAN " + SqlFleetStore.RecentErrorsSql, connection);
        command.Parameters.AddWithValue("@limit", 10L);
        await using var reader = await command.ExecuteReaderAsync();
        var plan = new List<string>();
        while (await reader.ReadAsync())
        {
            plan.Add(reader.GetString(3));
        }

        Assert.Contains(plan, step => step.Contains("USING INDEX telemetry_errors", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.Contains("TEMP B-TREE", StringComparison.Ordinal));
    }

    private protected override Task<ITestDatabase> NewDatabaseAsync()
    {
        var dir = new TempDir();
        _dirs.Add(dir);
        return Task.FromResult<ITestDatabase>(new Database(dir.Path));
    }

    private protected override Task CleanupAsync()
    {
        foreach (var dir in _dirs)
        {
            dir.Dispose();
        }

        return Task.CompletedTask;
    }

    private sealed class Database(string dir) : ITestDatabase
    {
        public IFleetStore NewStore(TimeProvider time) => new SqliteFleetStore(dir, time);

        public async Task<long> ScalarAsync(string sql)
        {
            await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dir, SqliteFleetStore.FileName), Pooling = false }.ToString());
            await connection.OpenAsync();
            await using var command = new SqliteCommand(sql, connection);
            return (long)(await command.ExecuteScalarAsync())!;
        }
    }
}
