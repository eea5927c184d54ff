using System.Data.Common;
using EdgeLlm.Contracts.Fleet;
using Npgsql;

namespace EdgeLlm.Fleet.Storage;

/// <summary>
/// The store for fleets that outgrow one machine: several stateless server instances share one PostgreSQL database.
/// Every hot path (credential lookup, telemetry batch, desired-state poll, touch) is one statement, one round trip;
/// statements are prepared automatically once used a few times. Migrations take a transaction-scoped advisory lock, so
/// instances starting together migrate once.
/// </summary>
internal sealed class PostgresFleetStore : SqlFleetStore
{
    /// <summary>The advisory lock key of the schema migration ("EdgeFlt1" as bytes).</summary>
    private const long MigrationLockKey = 0x45_64_67_65_46_6C_74_31;

    /// <summary>
    /// A whole batch in one statement: the arrays are unnested into rows, <c>ON CONFLICT DO NOTHING</c> keeps the first
    /// copy of each (device, seq) (repeats inside the batch too), the device's last seen moves in the same statement,
    /// and the count of rows actually inserted is the acknowledgement.
    /// </summary>
    private const string AppendTelemetrySql = $"""
        WITH inserted AS (
            INSERT INTO telemetry (device_id, {TelemetryColumns}, is_error, received_at)
            SELECT @device, t.seq, t.ts, t.kind, t.name, t.value, t.data, t.is_error, @now
            FROM unnest(@seqs, @tss, @kinds, @names, @values, @datas, @errors) AS t(seq, ts, kind, name, value, data, is_error)
            ON CONFLICT (device_id, seq) DO NOTHING
            RETURNING 1),
        touched AS ({TouchSql})
        SELECT COUNT(*) FROM inserted
        """;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresFleetStore(string connectionString, TimeProvider timeProvider)
        : base(SqlDialect.Postgres, timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            builder.ConnectionStringBuilder.MaxAutoPrepare = 32;
        }

        _dataSource = builder.Build();
    }

    protected override string? MigrationLockSql => $"SELECT pg_advisory_xact_lock({MigrationLockKey})";

    public override async Task<TelemetryAck> AppendTelemetryAsync(
        string deviceId, IReadOnlyList<TelemetryItem> items, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var count = items.Count;
        var seqs = new long[count];
        var tss = new long[count];
        var kinds = new string[count];
        var names = new string[count];
        var values = new double?[count];
        var datas = new string?[count];
        var errors = new bool[count];
        for (var i = 0; i < count; i++)
        {
            var item = items[i];
            seqs[i] = item.Seq;
            tss[i] = Ms(item.Ts);
            kinds[i] = item.Kind;
            names[i] = item.Name;
            values[i] = item.Value;
            datas[i] = DataText(item);
            errors[i] = IsError(item);
        }

        await using var command = _dataSource.CreateCommand(AppendTelemetrySql);
        command.Parameters.AddWithValue("@device", deviceId);
        command.Parameters.AddWithValue("@now", Ms(receivedAt));
        command.Parameters.AddWithValue("@seqs", seqs);
        command.Parameters.AddWithValue("@tss", tss);
        command.Parameters.AddWithValue("@kinds", kinds);
        command.Parameters.AddWithValue("@names", names);
        command.Parameters.AddWithValue("@values", values);
        command.Parameters.AddWithValue("@datas", datas);
        command.Parameters.AddWithValue("@errors", errors);
        var accepted = (int)(long)(await command.ExecuteScalarAsync(cancellationToken))!;
        return new TelemetryAck { Accepted = accepted, Duplicates = count - accepted };
    }

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    protected override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(cancellationToken);
}
