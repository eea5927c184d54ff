using System.Data.Common;
using EdgeLlm.Contracts.Fleet;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Fleet.Storage;

/// <summary>
/// The embedded default store: one SQLite file (<c>DIR/fleet.db</c>) in WAL mode, so readers never wait for the
/// writer. A pooled connection per operation lets concurrent requests read in parallel; writes go one at a time
/// through a gate (SQLite has one writer anyway, and waiting on a semaphore beats retrying on SQLITE_BUSY), and
/// <c>busy_timeout</c> covers another process on the same file. Synchronous stays FULL: an acknowledged batch survives
/// a power cut. Microsoft.Data.Sqlite's async methods complete synchronously.
/// </summary>
internal sealed class SqliteFleetStore : SqlFleetStore
{
    public const string FileName = "fleet.db";
    private const int BusyTimeoutMs = 30_000;

    private const string InsertTelemetrySql =
        $"INSERT INTO telemetry (device_id, {TelemetryColumns}, is_error, received_at) " +
        "VALUES (@device, @seq, @ts, @kind, @name, @value, @data, @error, @now) ON CONFLICT (device_id, seq) DO NOTHING";

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeGate = new(1, 1);

    public SqliteFleetStore(string dataDir, TimeProvider timeProvider)
        : base(SqlDialect.Sqlite, timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDir);
        Path = System.IO.Path.Combine(dataDir, FileName);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = BusyTimeoutMs / 1000,
        }.ToString();
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    public override async Task<TelemetryAck> AppendTelemetryAsync(
        string deviceId, IReadOnlyList<TelemetryItem> items, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var now = Ms(receivedAt);
        var accepted = await WithWriteAsync(
            async connection =>
            {
                await using var transaction = await BeginWriteAsync(connection, cancellationToken);
                var stored = 0;
                await using (var insert = Command(
                    connection,
                    transaction,
                    InsertTelemetrySql,
                    [("@device", deviceId), ("@seq", 0L), ("@ts", 0L), ("@kind", ""), ("@name", ""), ("@value", null), ("@data", null), ("@error", false), ("@now", now)]))
                {
                    // One prepared statement, rebound per item: SQLite runs in-process, so a row per step is cheap.
                    foreach (var item in items)
                    {
                        insert.Parameters["@seq"].Value = item.Seq;
                        insert.Parameters["@ts"].Value = Ms(item.Ts);
                        insert.Parameters["@kind"].Value = item.Kind;
                        insert.Parameters["@name"].Value = item.Name;
                        insert.Parameters["@value"].Value = item.Value is { } value ? value : DBNull.Value;
                        insert.Parameters["@data"].Value = (object?)DataText(item) ?? DBNull.Value;
                        insert.Parameters["@error"].Value = IsError(item);
                        stored += await insert.ExecuteNonQueryAsync(cancellationToken);
                    }
                }

                await ExecuteAsync(connection, transaction, TouchSql, [("@now", now), ("@device", deviceId)], cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                return stored;
            },
            cancellationToken);
        return new TelemetryAck { Accepted = accepted, Duplicates = items.Count - accepted };
    }

    public override ValueTask DisposeAsync()
    {
        // Closes the pooled connections, so the file can be moved or deleted once the store is gone.
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        _writeGate.Dispose();
        return ValueTask.CompletedTask;
    }

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMs}";
            await pragma.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    protected override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    protected override async Task PrepareDatabaseAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // Persistent in the file: set once, before the first transaction (the journal mode can't change inside one).
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode = WAL";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task<T> WithWriteAsync<T>(Func<DbConnection, Task<T>> write, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            return await base.WithWriteAsync(write, cancellationToken);
        }
        finally
        {
            _writeGate.Release();
        }
    }
}
