using EdgeLlm.Fleet.Storage;
using EdgeLlm.Fleet.Tests.Support;
using Npgsql;

namespace EdgeLlm.Fleet.Tests.Storage;

/// <summary>
/// The conformance tests on <see cref="PostgresFleetStore"/>: one fresh database of the shared cluster for this class,
/// and in it a fresh schema per database a test asks for (the store's connection string sets its search path there),
/// which is as empty as a new database and far quicker to make.
/// </summary>
[Collection(PostgresClusterDefinition.Name)]
public sealed class PostgresFleetStoreTests(PostgresFixture fixture) : FleetStoreConformanceTests
{
    private static readonly SemaphoreSlim ClassDatabaseGate = new(1, 1);
    private static string? s_classDatabase;
    private readonly List<string> _schemas = [];

    [Fact]
    public async Task RecentErrors_CanBeServedByThePartialIndex_Backwards()
    {
        await using var connection = new NpgsqlConnection(InSchema(_schemas[0]));
        await connection.OpenAsync();
        // An empty table is cheapest to scan; forbid that to see whether the index can serve the query and its order.
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off; SET enable_bitmapscan = off", connection))
        {
            await off.ExecuteNonQueryAsync();
        }

        await using var command = new NpgsqlCommand("EXPLAIN " + SqlFleetStore.RecentErrorsSql, connection);
        command.Parameters.AddWithValue("@limit", 10L);
        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        Assert.Contains(plan, step => step.Contains("Index Scan Backward using telemetry_errors", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.Contains("Sort", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheCredentialLookup_UsesTheUniqueIndex()
    {
        await using var connection = new NpgsqlConnection(InSchema(_schemas[0]));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'devices' AND indexdef LIKE 'CREATE UNIQUE INDEX % (credential_hash)'",
            connection);
        Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);
    }

    private protected override async Task<ITestDatabase> NewDatabaseAsync()
    {
        var schema = "t_" + Guid.NewGuid().ToString("N");
        await ExecuteAsync($"CREATE SCHEMA {schema}");
        _schemas.Add(schema);
        return new Database(InSchema(schema));
    }

    private protected override async Task CleanupAsync()
    {
        foreach (var schema in _schemas)
        {
            await ExecuteAsync($"DROP SCHEMA {schema} CASCADE");
        }
    }

    private static string InSchema(string schema) =>
        new NpgsqlConnectionStringBuilder(s_classDatabase) { SearchPath = schema }.ConnectionString;

    private async Task ExecuteAsync(string sql)
    {
        await ClassDatabaseGate.WaitAsync();
        try
        {
            s_classDatabase ??= await fixture.Cluster.CreateDatabaseAsync("fleet_store_tests", CancellationToken.None);
        }
        finally
        {
            ClassDatabaseGate.Release();
        }

        await using var connection = new NpgsqlConnection(s_classDatabase);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private sealed class Database(string connectionString) : ITestDatabase
    {
        public IFleetStore NewStore(TimeProvider time) => new PostgresFleetStore(connectionString, time);

        public async Task<long> ScalarAsync(string sql)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
