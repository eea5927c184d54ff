using System.Data.Common;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Storage;

/// <summary>
/// The part of the fleet store both SQL dialects share: the queries are written once (SQLite and PostgreSQL agree on
/// <c>ON CONFLICT</c>, <c>RETURNING</c>, <c>TRUE</c>/<c>FALSE</c>), every value is a parameter, and a connection is
/// taken from the pool per operation. Subclasses open connections, begin write transactions and store telemetry
/// batches in their own, efficient way.
/// </summary>
internal abstract class SqlFleetStore(SqlDialect dialect, TimeProvider timeProvider) : IFleetStore
{
    protected const string DeviceColumns =
        "device_id, credential_hash, revoked, enrolled_at, last_seen, hardware, tags, reported, reported_at";

    protected const string TelemetryColumns = "seq, ts, kind, name, value, data";

    /// <summary>Sets last seen, never backwards (several server instances may touch one device).</summary>
    protected const string TouchSql =
        "UPDATE devices SET last_seen = @now WHERE device_id = @device AND (last_seen IS NULL OR last_seen < @now)";

    /// <summary>Error events of all devices, newest first: served by the partial index <c>telemetry_errors</c>, read backwards.</summary>
    internal const string RecentErrorsSql =
        $"SELECT device_id, {TelemetryColumns} FROM telemetry WHERE is_error ORDER BY ts DESC, device_id DESC, seq DESC LIMIT @limit";

    private const string ApiKeyColumns = "id, name, role, key_hash, created_at, revoked";
    private const string TokenColumns = "id, token_hash, uses_left, expires_at, tags, created_at, created_by";
    private const string ErrorSuffix = "error";
    private const string RolloutColumns = "revision, id, state, created_at, document";

    /// <summary>The advisory lock key of rollout creation ("EdgeRoll" as bytes).</summary>
    private const long RolloutLockKey = 0x45_64_67_65_52_6F_6C_6C;

    private const string BundleColumns = "name, version, kind, sha256, size, key_id, manifest, uploaded_at, uploaded_by";

    /// <summary>A connection from the pool, open.</summary>
    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>Begins a transaction that writes (SQLite: <c>BEGIN IMMEDIATE</c>, so the write lock is taken first).</summary>
    protected abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Serializes the schema migration between instances (PostgreSQL: an advisory lock); null when the transaction already does.</summary>
    protected virtual string? MigrationLockSql => null;

    /// <summary>Runs before the migration transaction (SQLite: WAL mode).</summary>
    protected virtual Task PrepareDatabaseAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

    public abstract ValueTask DisposeAsync();

    public Task MigrateAsync(CancellationToken cancellationToken) =>
        WithWriteAsync(connection => MigrateAsync(connection, cancellationToken), cancellationToken);

    private async Task<int> MigrateAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var migrations = FleetSchema.For(dialect);
        await PrepareDatabaseAsync(connection, cancellationToken);
        await using var transaction = await BeginWriteAsync(connection, cancellationToken);
        if (MigrationLockSql is { } lockSql)
        {
            await ExecuteAsync(connection, transaction, lockSql, [], cancellationToken);
        }

        await ExecuteAsync(connection, transaction, FleetSchema.MigrationsTable, [], cancellationToken);
        var applied = (await QueryAsync(connection, transaction, "SELECT version FROM schema_migrations", [], r => r.GetInt32(0), cancellationToken))
            .ToHashSet();
        var newest = migrations[^1].Version;
        if (applied.Count > 0 && applied.Max() > newest)
        {
            throw new InvalidOperationException(
                $"The {dialect.Name} fleet database has schema version {applied.Max()}, newer than this server knows ({newest}): run a newer edgellm-fleet.");
        }

        foreach (var migration in migrations.Where(m => !applied.Contains(m.Version)))
        {
            await ExecuteAsync(connection, transaction, migration.Sql, [], cancellationToken);
            await ExecuteAsync(
                connection,
                transaction,
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @at)",
                [("@version", migration.Version), ("@name", migration.Name), ("@at", Ms(timeProvider.GetUtcNow()))],
                cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return migrations.Count - applied.Count;
    }

    public async Task<bool> AnyApiKeyAsync(CancellationToken cancellationToken) =>
        (await ReadAsync("SELECT 1 FROM api_keys LIMIT 1", [], r => r.GetInt32(0), cancellationToken)).Count > 0;

    /// <summary>Creating a key whose hash is already stored is a no-op (two instances bootstrapping the same key).</summary>
    public Task CreateApiKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken) =>
        WriteAsync(
            $"INSERT INTO api_keys ({ApiKeyColumns}) VALUES (@id, @name, @role, @hash, @created, @revoked) ON CONFLICT (key_hash) DO NOTHING",
            [("@id", key.Id), ("@name", key.Name), ("@role", key.Role), ("@hash", key.KeyHash), ("@created", Ms(key.CreatedAt)), ("@revoked", key.Revoked)],
            cancellationToken);

    public async Task<ApiKeyRecord?> FindApiKeyAsync(string keyHash, CancellationToken cancellationToken) =>
        (await ReadAsync($"SELECT {ApiKeyColumns} FROM api_keys WHERE key_hash = @hash", [("@hash", keyHash)], ReadApiKey, cancellationToken))
            .FirstOrDefault();

    public async Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(CancellationToken cancellationToken) =>
        await ReadAsync($"SELECT {ApiKeyColumns} FROM api_keys ORDER BY created_at, id", [], ReadApiKey, cancellationToken);

    public async Task<bool> RevokeApiKeyAsync(string id, CancellationToken cancellationToken) =>
        await WriteAsync("UPDATE api_keys SET revoked = TRUE WHERE id = @id", [("@id", id)], cancellationToken) > 0;

    public Task CreateTokenAsync(TokenRecord token, CancellationToken cancellationToken) =>
        WriteAsync(
            $"INSERT INTO enrollment_tokens ({TokenColumns}) VALUES (@id, @hash, @uses, @expires, @tags, @created, @by)",
            [
                ("@id", token.Id), ("@hash", token.TokenHash), ("@uses", token.UsesLeft), ("@expires", Ms(token.ExpiresAt)),
                ("@tags", Json(token.Tags)), ("@created", Ms(token.CreatedAt)), ("@by", token.CreatedBy),
            ],
            cancellationToken);

    public async Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken) =>
        await ReadAsync($"SELECT {TokenColumns} FROM enrollment_tokens ORDER BY created_at, id", [], ReadToken, cancellationToken);

    public async Task<bool> DeleteTokenAsync(string id, CancellationToken cancellationToken) =>
        await WriteAsync("DELETE FROM enrollment_tokens WHERE id = @id", [("@id", id)], cancellationToken) > 0;

    public Task<EnrollResult> EnrollAsync(string tokenHash, DeviceEnrollment enrollment, DateTimeOffset now, CancellationToken cancellationToken) =>
        WithWriteAsync(connection => EnrollAsync(connection, tokenHash, enrollment, Ms(now), cancellationToken), cancellationToken);

    private async Task<EnrollResult> EnrollAsync(
        DbConnection connection, string tokenHash, DeviceEnrollment enrollment, long nowMs, CancellationToken cancellationToken)
    {
        await using var transaction = await BeginWriteAsync(connection, cancellationToken);

        // Taking the use first: the row lock makes racing enrollments wait, and the loser sees uses_left = 0.
        var taken = await QueryAsync(
            connection,
            transaction,
            "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE token_hash = @hash AND uses_left > 0 AND expires_at > @now RETURNING tags",
            [("@hash", tokenHash), ("@now", nowMs)],
            r => Strings(r.GetString(0)),
            cancellationToken);
        if (taken.Count == 0)
        {
            var found = await QueryAsync(
                connection,
                transaction,
                "SELECT uses_left, expires_at FROM enrollment_tokens WHERE token_hash = @hash",
                [("@hash", tokenHash)],
                r => (UsesLeft: r.GetInt32(0), ExpiresAt: r.GetInt64(1)),
                cancellationToken);
            await transaction.RollbackAsync(cancellationToken);
            var outcome = found.Count == 0 ? EnrollOutcome.UnknownToken
                : found[0].UsesLeft <= 0 ? EnrollOutcome.TokenUsedUp
                : EnrollOutcome.TokenExpired;
            return new EnrollResult(outcome, []);
        }

        var tags = taken[0];
        var stored = await ExecuteAsync(
            connection,
            transaction,
            $"""
            INSERT INTO devices ({DeviceColumns}) VALUES (@device, @credential, FALSE, @now, NULL, @hardware, @tags, NULL, NULL)
            ON CONFLICT (device_id) DO UPDATE SET credential_hash = excluded.credential_hash, hardware = excluded.hardware
            WHERE NOT devices.revoked
            """,
            [
                ("@device", enrollment.DeviceId), ("@credential", enrollment.CredentialHash), ("@now", nowMs),
                ("@hardware", JsonSerializer.Serialize(enrollment.Hardware, FleetJsonContext.Default.HardwareInfo)), ("@tags", Json(tags)),
            ],
            cancellationToken);
        if (stored == 0)
        {
            // A revoked device stays revoked, and the token keeps its use.
            await transaction.RollbackAsync(cancellationToken);
            return new EnrollResult(EnrollOutcome.DeviceRevoked, []);
        }

        await transaction.CommitAsync(cancellationToken);
        return new EnrollResult(EnrollOutcome.Enrolled, tags);
    }

    public async Task<DeviceRecord?> FindDeviceByCredentialAsync(string credentialHash, CancellationToken cancellationToken) =>
        (await ReadAsync(
            $"SELECT {DeviceColumns} FROM devices WHERE credential_hash = @hash AND NOT revoked",
            [("@hash", credentialHash)],
            ReadDevice,
            cancellationToken)).FirstOrDefault();

    public async Task<DeviceRecord?> GetDeviceAsync(string deviceId, CancellationToken cancellationToken) =>
        (await ReadAsync($"SELECT {DeviceColumns} FROM devices WHERE device_id = @device", [("@device", deviceId)], ReadDevice, cancellationToken))
            .FirstOrDefault();

    public async Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(CancellationToken cancellationToken) =>
        await ReadAsync($"SELECT {DeviceColumns} FROM devices ORDER BY device_id", [], ReadDevice, cancellationToken);

    public async Task<bool> RevokeDeviceAsync(string deviceId, CancellationToken cancellationToken) =>
        await WriteAsync("UPDATE devices SET revoked = TRUE WHERE device_id = @device", [("@device", deviceId)], cancellationToken) > 0;

    public async Task<bool> RotateCredentialAsync(string deviceId, string oldHash, string newHash, CancellationToken cancellationToken) =>
        await WriteAsync(
            "UPDATE devices SET credential_hash = @new WHERE device_id = @device AND credential_hash = @old AND NOT revoked",
            [("@new", newHash), ("@device", deviceId), ("@old", oldHash)],
            cancellationToken) > 0;

    public abstract Task<TelemetryAck> AppendTelemetryAsync(
        string deviceId, IReadOnlyList<TelemetryItem> items, DateTimeOffset receivedAt, CancellationToken cancellationToken);

    public async Task<IReadOnlyList<TelemetryItem>> ReadTelemetryAsync(string deviceId, long afterSeq, int limit, CancellationToken cancellationToken) =>
        await ReadAsync(
            $"SELECT {TelemetryColumns} FROM telemetry WHERE device_id = @device AND seq > @after ORDER BY seq LIMIT @limit",
            [("@device", deviceId), ("@after", afterSeq), ("@limit", (long)Math.Max(0, limit))],
            r => ReadTelemetryItem(r, 0),
            cancellationToken);

    public async Task<(long LastSeq, long Count)> TelemetryStatsAsync(string deviceId, CancellationToken cancellationToken) =>
        (await ReadAsync(
            "SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM telemetry WHERE device_id = @device",
            [("@device", deviceId)],
            r => (r.GetInt64(0), r.GetInt64(1)),
            cancellationToken))[0];

    public async Task<IReadOnlyList<(string DeviceId, TelemetryItem Item)>> RecentErrorsAsync(int limit, CancellationToken cancellationToken) =>
        await ReadAsync(
            RecentErrorsSql,
            [("@limit", (long)Math.Max(0, limit))],
            r => (r.GetString(0), ReadTelemetryItem(r, 1)),
            cancellationToken);

    public async Task<DesiredState> GetDesiredAsync(string deviceId, CancellationToken cancellationToken) =>
        (await ReadAsync("SELECT revision, state FROM desired_state WHERE device_id = @device", [("@device", deviceId)], ReadDesired, cancellationToken))
            .FirstOrDefault() ?? new DesiredState();

    public async Task<DesiredState> SetDesiredAsync(string deviceId, DesiredStateUpdate update, CancellationToken cancellationToken)
    {
        var state = new DesiredState
        {
            Model = update.Model,
            Adapters = update.Adapters,
            ConfigBundle = update.ConfigBundle,
            Config = update.Config,
            QueryLogUpload = update.QueryLogUpload,
        };
        var json = JsonSerializer.Serialize(state, FleetJsonContext.Default.DesiredState);
        var revision = await WithWriteAsync(
            async connection => (await QueryAsync(
                connection,
                null,
                """
                INSERT INTO desired_state (device_id, revision, state) VALUES (@device, 1, @state)
                ON CONFLICT (device_id) DO UPDATE SET revision = desired_state.revision + 1, state = excluded.state
                RETURNING revision
                """,
                [("@device", deviceId), ("@state", json)],
                r => r.GetInt64(0),
                cancellationToken))[0],
            cancellationToken);
        return state with { Revision = revision };
    }

    public Task SetReportedAsync(string deviceId, ReportedState state, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync(
            """
            UPDATE devices SET reported = @reported, reported_at = @now,
                last_seen = CASE WHEN last_seen IS NULL OR last_seen < @now THEN @now ELSE last_seen END
            WHERE device_id = @device
            """,
            [("@reported", JsonSerializer.Serialize(state, FleetJsonContext.Default.ReportedState)), ("@now", Ms(now)), ("@device", deviceId)],
            cancellationToken);

    public Task TouchAsync(string deviceId, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync(TouchSql, [("@now", Ms(now)), ("@device", deviceId)], cancellationToken);

    public Task AppendAuditAsync(AuditEntry entry, CancellationToken cancellationToken) =>
        WriteAsync(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (@at, @actor, @action, @target, @detail)",
            [("@at", Ms(entry.At)), ("@actor", entry.Actor), ("@action", entry.Action), ("@target", entry.Target), ("@detail", entry.Detail)],
            cancellationToken);

    public async Task<IReadOnlyList<AuditEntry>> ListAuditAsync(int limit, CancellationToken cancellationToken) =>
        await ReadAsync(
            "SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT @limit",
            [("@limit", (long)Math.Max(0, limit))],
            r => new AuditEntry
            {
                Id = r.GetInt64(0),
                At = FromMs(r.GetInt64(1)),
                Actor = r.GetString(2),
                Action = r.GetString(3),
                Target = r.GetString(4),
                Detail = r.IsDBNull(5) ? null : r.GetString(5),
            },
            cancellationToken);

    public async Task<BundleAddOutcome> AddBundleAsync(BundleRecord bundle, CancellationToken cancellationToken)
    {
        var inserted = await WriteAsync(
            $"INSERT INTO bundles ({BundleColumns}) VALUES (@name, @version, @kind, @sha, @size, @key, @manifest, @at, @by) ON CONFLICT (name, version) DO NOTHING",
            [
                ("@name", bundle.Name), ("@version", bundle.Version), ("@kind", bundle.Kind), ("@sha", bundle.Sha256), ("@size", bundle.Size),
                ("@key", bundle.KeyId), ("@manifest", bundle.ManifestJson), ("@at", Ms(bundle.UploadedAt)), ("@by", bundle.UploadedBy),
            ],
            cancellationToken);
        if (inserted > 0)
        {
            return BundleAddOutcome.Added;
        }

        var existing = await GetBundleAsync(bundle.Name, bundle.Version, cancellationToken);
        return existing?.Sha256 == bundle.Sha256 ? BundleAddOutcome.AlreadyPresent : BundleAddOutcome.Conflict;
    }

    public async Task<IReadOnlyList<BundleRecord>> ListBundlesAsync(string? name, CancellationToken cancellationToken) =>
        await ReadAsync(
            $"SELECT {BundleColumns} FROM bundles {(name is null ? "" : "WHERE name = @name")} ORDER BY name, uploaded_at DESC, version DESC",
            name is null ? [] : [("@name", name)],
            ReadBundle,
            cancellationToken);

    public async Task<BundleRecord?> GetBundleAsync(string name, string version, CancellationToken cancellationToken) =>
        (await ReadAsync(
            $"SELECT {BundleColumns} FROM bundles WHERE name = @name AND version = @version",
            [("@name", name), ("@version", version)],
            ReadBundle,
            cancellationToken)).FirstOrDefault();

    public async Task<BundleRecord?> FindBundleBySha256Async(string sha256, CancellationToken cancellationToken) =>
        (await ReadAsync(
            $"SELECT {BundleColumns} FROM bundles WHERE sha256 = @sha ORDER BY uploaded_at, name, version LIMIT 1",
            [("@sha", sha256)],
            ReadBundle,
            cancellationToken)).FirstOrDefault();

    public async Task<bool> SetChannelAsync(ChannelRecord channel, CancellationToken cancellationToken) =>
        await WriteAsync(
            """
            INSERT INTO bundle_channels (name, channel, version, updated_at, updated_by)
            SELECT name, @channel, version, @at, @by FROM bundles WHERE name = @name AND version = @version
            ON CONFLICT (name, channel) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by
            """,
            [("@name", channel.Name), ("@channel", channel.Channel), ("@version", channel.Version), ("@at", Ms(channel.UpdatedAt)), ("@by", channel.UpdatedBy)],
            cancellationToken) > 0;

    public async Task<IReadOnlyList<ChannelRecord>> ListChannelsAsync(string? name, CancellationToken cancellationToken) =>
        await ReadAsync(
            $"SELECT name, channel, version, updated_at, updated_by FROM bundle_channels {(name is null ? "" : "WHERE name = @name")} ORDER BY name, channel",
            name is null ? [] : [("@name", name)],
            r => new ChannelRecord(r.GetString(0), r.GetString(1), r.GetString(2), FromMs(r.GetInt64(3)), r.GetString(4)),
            cancellationToken);

    public Task<RolloutInfo?> CreateRolloutAsync(RolloutInfo rollout, CancellationToken cancellationToken) =>
        WithWriteAsync(connection => CreateRolloutAsync(connection, rollout, cancellationToken), cancellationToken);

    private async Task<RolloutInfo?> CreateRolloutAsync(DbConnection connection, RolloutInfo rollout, CancellationToken cancellationToken)
    {
        await using var transaction = await BeginWriteAsync(connection, cancellationToken);
        if (dialect == SqlDialect.Postgres)
        {
            // SQLite's BEGIN IMMEDIATE serializes writers already; PostgreSQL instances take this lock for the check.
            await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({RolloutLockKey})", [], cancellationToken);
        }

        var active = await QueryAsync(
            connection,
            transaction,
            $"SELECT {RolloutColumns} FROM rollouts WHERE state IN (@running, @paused, @halted) ORDER BY created_at, id",
            [("@running", RolloutStates.Running), ("@paused", RolloutStates.Paused), ("@halted", RolloutStates.Halted)],
            ReadRollout,
            cancellationToken);
        var devices = rollout.Devices.Select(d => d.DeviceId).ToHashSet(StringComparer.Ordinal);
        if (active.Find(a => a.Info.Devices.Any(d => devices.Contains(d.DeviceId))) is { } conflict)
        {
            await transaction.RollbackAsync(cancellationToken);
            return conflict.Info;
        }

        await ExecuteAsync(
            connection,
            transaction,
            $"INSERT INTO rollouts ({RolloutColumns}) VALUES (1, @id, @state, @created, @document)",
            [("@id", rollout.Id), ("@state", rollout.State), ("@created", Ms(rollout.CreatedAt)), ("@document", RolloutJson(rollout))],
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return null;
    }

    public async Task<RolloutRecord?> GetRolloutAsync(string id, CancellationToken cancellationToken) =>
        (await ReadAsync($"SELECT {RolloutColumns} FROM rollouts WHERE id = @id", [("@id", id)], ReadRollout, cancellationToken)).FirstOrDefault();

    public async Task<IReadOnlyList<RolloutRecord>> ListRolloutsAsync(string? state, CancellationToken cancellationToken) =>
        await ReadAsync(
            $"SELECT {RolloutColumns} FROM rollouts {(state is null ? "" : "WHERE state = @state")} ORDER BY created_at DESC, id DESC",
            state is null ? [] : [("@state", state)],
            ReadRollout,
            cancellationToken);

    public async Task<bool> UpdateRolloutAsync(RolloutInfo rollout, long expectedRevision, CancellationToken cancellationToken) =>
        await WriteAsync(
            "UPDATE rollouts SET revision = revision + 1, state = @state, document = @document WHERE id = @id AND revision = @expected",
            [("@state", rollout.State), ("@document", RolloutJson(rollout)), ("@id", rollout.Id), ("@expected", expectedRevision)],
            cancellationToken) > 0;

    /// <summary>Runs a write on its own connection; SQLite overrides it to let one writer in at a time.</summary>
    protected virtual async Task<T> WithWriteAsync<T>(Func<DbConnection, Task<T>> write, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await write(connection);
    }

    protected static long Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    protected static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    protected static bool IsError(TelemetryItem item) =>
        item.Kind == TelemetryKinds.Event && item.Name.EndsWith(ErrorSuffix, StringComparison.Ordinal);

    /// <summary>An item's data as stored: its JSON text exactly as received, or null.</summary>
    protected static string? DataText(TelemetryItem item) =>
        item.Data is { ValueKind: not JsonValueKind.Undefined } data ? data.GetRawText() : null;

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    protected static async Task<int> ExecuteAsync(
        DbConnection connection, DbTransaction? transaction, string sql, (string Name, object? Value)[] parameters, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected static async Task<List<T>> QueryAsync<T>(
        DbConnection connection,
        DbTransaction? transaction,
        string sql,
        (string Name, object? Value)[] parameters,
        Func<DbDataReader, T> read,
        CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    private Task<int> WriteAsync(string sql, (string Name, object? Value)[] parameters, CancellationToken cancellationToken) =>
        WithWriteAsync(connection => ExecuteAsync(connection, null, sql, parameters, cancellationToken), cancellationToken);

    private async Task<List<T>> ReadAsync<T>(string sql, (string Name, object? Value)[] parameters, Func<DbDataReader, T> read, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await QueryAsync(connection, null, sql, parameters, read, cancellationToken);
    }

    private static string Json(IReadOnlyList<string> strings) => JsonSerializer.Serialize(strings, FleetJsonContext.Default.IReadOnlyListString);

    private static IReadOnlyList<string> Strings(string json) => JsonSerializer.Deserialize(json, FleetJsonContext.Default.IReadOnlyListString) ?? [];

    private static ApiKeyRecord ReadApiKey(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), FromMs(r.GetInt64(4)), r.GetBoolean(5));

    private static TokenRecord ReadToken(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetInt32(2), FromMs(r.GetInt64(3)), Strings(r.GetString(4)), FromMs(r.GetInt64(5)), r.GetString(6));

    private static DeviceRecord ReadDevice(DbDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetBoolean(2),
        FromMs(r.GetInt64(3)),
        r.IsDBNull(4) ? null : FromMs(r.GetInt64(4)),
        JsonSerializer.Deserialize(r.GetString(5), FleetJsonContext.Default.HardwareInfo) ?? new HardwareInfo(),
        Strings(r.GetString(6)),
        r.IsDBNull(7) ? null : JsonSerializer.Deserialize(r.GetString(7), FleetJsonContext.Default.ReportedState),
        r.IsDBNull(8) ? null : FromMs(r.GetInt64(8)));

    private static BundleRecord ReadBundle(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), r.GetString(5), r.GetString(6), FromMs(r.GetInt64(7)), r.GetString(8));

    private static string RolloutJson(RolloutInfo rollout) => JsonSerializer.Serialize(rollout, FleetJsonContext.Default.RolloutInfo);

    private static RolloutRecord ReadRollout(DbDataReader r) =>
        new(r.GetInt64(0), JsonSerializer.Deserialize(r.GetString(4), FleetJsonContext.Default.RolloutInfo)!);

    private static TelemetryItem ReadTelemetryItem(DbDataReader r, int first) => new()
    {
        Seq = r.GetInt64(first),
        Ts = FromMs(r.GetInt64(first + 1)),
        Kind = r.GetString(first + 2),
        Name = r.GetString(first + 3),
        Value = r.IsDBNull(first + 4) ? null : r.GetDouble(first + 4),
        Data = r.IsDBNull(first + 5) ? null : ParseElement(r.GetString(first + 5)),
    };

    private static JsonElement ParseElement(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static DesiredState ReadDesired(DbDataReader r) =>
        (JsonSerializer.Deserialize(r.GetString(1), FleetJsonContext.Default.DesiredState) ?? new DesiredState()) with { Revision = r.GetInt64(0) };
}
