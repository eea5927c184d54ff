namespace EdgeLlm.Fleet.Storage;

/// <summary>One schema step: applied once, in version order, and recorded in <c>schema_migrations</c>.</summary>
internal sealed record Migration(int Version, string Name, string Sql);

/// <summary>Where the two SQL dialects of the fleet schema differ (everything else is written once).</summary>
internal sealed record SqlDialect(string Name, string KeyType, string IdentityColumn)
{
    /// <summary>SQLite: text keys compare bytewise (BINARY) already.</summary>
    public static SqlDialect Sqlite { get; } = new("sqlite", "text", "INTEGER PRIMARY KEY AUTOINCREMENT");

    /// <summary>PostgreSQL: keys use the "C" collation so ordering (and index order) is ordinal, as in SQLite.</summary>
    public static SqlDialect Postgres { get; } = new("postgres", "text COLLATE \"C\"", "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY");
}

/// <summary>
/// The fleet schema as an ordered list of migrations, shared by SQLite and PostgreSQL. Timestamps are Unix
/// milliseconds (bigint); JSON (hardware, tags, reported and desired state) is text written with FleetJsonContext.
/// A released step is never edited: a change is a new step at the end.
/// </summary>
internal static class FleetSchema
{
    public const string MigrationsTable =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)";

    private const string Initial = """
        CREATE TABLE api_keys (
            id {key} PRIMARY KEY,
            name text NOT NULL,
            role text NOT NULL,
            key_hash text NOT NULL UNIQUE,
            created_at bigint NOT NULL,
            revoked boolean NOT NULL DEFAULT FALSE);
        CREATE TABLE enrollment_tokens (
            id {key} PRIMARY KEY,
            token_hash text NOT NULL UNIQUE,
            uses_left integer NOT NULL,
            expires_at bigint NOT NULL,
            tags text NOT NULL,
            created_at bigint NOT NULL,
            created_by text NOT NULL);
        CREATE TABLE devices (
            device_id {key} PRIMARY KEY,
            credential_hash text NOT NULL UNIQUE,
            revoked boolean NOT NULL DEFAULT FALSE,
            enrolled_at bigint NOT NULL,
            last_seen bigint,
            hardware text NOT NULL,
            tags text NOT NULL,
            reported text,
            reported_at bigint);
        CREATE TABLE telemetry (
            device_id {key} NOT NULL,
            seq bigint NOT NULL,
            ts bigint NOT NULL,
            kind text NOT NULL,
            name text NOT NULL,
            value double precision,
            data text,
            is_error boolean NOT NULL,
            received_at bigint NOT NULL,
            PRIMARY KEY (device_id, seq));
        CREATE INDEX telemetry_errors ON telemetry (ts, device_id, seq) WHERE is_error;
        CREATE TABLE desired_state (
            device_id {key} PRIMARY KEY,
            revision bigint NOT NULL,
            state text NOT NULL);
        CREATE TABLE audit_log (
            id {identity},
            at bigint NOT NULL,
            actor text NOT NULL,
            action text NOT NULL,
            target text NOT NULL,
            detail text);
        """;

    /// <summary>
    /// The bundle registry: one row per (name, version), the artifact's SHA-256 and size computed by the server, the
    /// verified manifest as received; a channel points a name at one of its versions.
    /// </summary>
    private const string Bundles = """
        CREATE TABLE bundles (
            name {key} NOT NULL,
            version {key} NOT NULL,
            kind text NOT NULL,
            sha256 {key} NOT NULL,
            size bigint NOT NULL,
            key_id text NOT NULL,
            manifest text NOT NULL,
            uploaded_at bigint NOT NULL,
            uploaded_by text NOT NULL,
            PRIMARY KEY (name, version));
        CREATE INDEX bundles_sha256 ON bundles (sha256);
        CREATE TABLE bundle_channels (
            name {key} NOT NULL,
            channel {key} NOT NULL,
            version {key} NOT NULL,
            updated_at bigint NOT NULL,
            updated_by text NOT NULL,
            PRIMARY KEY (name, channel));
        """;

    /// <summary>
    /// Rollouts: one row per rollout, its whole document (stages, devices, previous models) as JSON, and a revision
    /// that every update compares and sets, so several server instances stepping one rollout never both win.
    /// </summary>
    private const string Rollouts = """
        CREATE TABLE rollouts (
            id {key} PRIMARY KEY,
            revision bigint NOT NULL,
            state text NOT NULL,
            created_at bigint NOT NULL,
            document text NOT NULL);
        CREATE INDEX rollouts_state ON rollouts (state);
        """;

    /// <summary>The migrations for <paramref name="dialect"/>, in version order.</summary>
    public static IReadOnlyList<Migration> For(SqlDialect dialect) =>
    [
        new(1, "initial", Render(Initial, dialect)),
        new(2, "bundles", Render(Bundles, dialect)),
        new(3, "rollouts", Render(Rollouts, dialect)),
    ];

    private static string Render(string sql, SqlDialect dialect) =>
        sql.Replace("{key}", dialect.KeyType, StringComparison.Ordinal)
            .Replace("{identity}", dialect.IdentityColumn, StringComparison.Ordinal);
}
