using System.Globalization;
using System.Threading.Channels;
using EdgeLlm.Agent.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Storage;

/// <summary>One answered (or refused) question, as kept in the device's query log.</summary>
internal sealed record QueryLogEntry(
    DateTimeOffset At,
    string RequestId,
    string Mode,
    string Question,
    string? Answer,
    string Outcome,
    int PromptTokens,
    int CompletionTokens,
    double TotalMs);

/// <summary>
/// <c>agent.db</c> in the data directory (SQLite, WAL): the query log and the agent's state. One connection, one
/// writer loop: Microsoft.Data.Sqlite's async methods are synchronous, so requests only enqueue log entries and the
/// loop writes them, and applies retention (age and entry count) at start and every hour.
/// </summary>
internal sealed class AgentDatabase(IOptions<AgentOptions> options, TimeProvider time, ILogger<AgentDatabase> logger) : AgentService
{
    private readonly Channel<QueryLogEntry> _pending = Channel.CreateBounded<QueryLogEntry>(
        new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    private SqliteConnection? _connection;

    public string Path => System.IO.Path.Combine(options.Value.DataDir, "agent.db");

    /// <summary>Opens (and creates) the database before the agent reports ready; a data directory that cannot hold it stops the start.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(options.Value.DataDir);
        _connection = Open(Path);
        SetState("last_start", time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
        SetState("device_id", options.Value.DeviceId);
        ApplyRetention();
        return base.StartAsync(cancellationToken);
    }

    /// <summary>Queues an entry for the writer loop; never blocks a request (the oldest unwritten entry gives way).</summary>
    public void Log(QueryLogEntry entry)
    {
        if (options.Value.QueryLog)
        {
            _pending.Writer.TryWrite(entry);
        }
    }

    public string? GetState(string key)
    {
        using var cmd = Connection.CreateCommand();
        cmd.CommandText = "SELECT value FROM state WHERE key = $k";
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() as string;
    }

    public void SetState(string key, string value)
    {
        using var cmd = Connection.CreateCommand();
        cmd.CommandText = "INSERT INTO state(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
        cmd.Parameters.AddWithValue("$k", key);
        cmd.Parameters.AddWithValue("$v", value);
        cmd.ExecuteNonQuery();
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _pending.Writer.TryComplete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        // The loop has ended (or never ran, when stopped right after start): write what is left.
        WritePending();
    }

    public override void Dispose()
    {
        _connection?.Dispose();
        base.Dispose();
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var nextRetention = time.GetUtcNow().AddHours(1);
        // Stopping only completes the channel, so entries of the last answers are still written.
        while (await _pending.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            WritePending();
            if (time.GetUtcNow() >= nextRetention)
            {
                ApplyRetention();
                nextRetention = time.GetUtcNow().AddHours(1);
            }
        }
    }

    private void WritePending()
    {
        using var tx = Connection.BeginTransaction();
        while (_pending.Reader.TryRead(out var entry))
        {
            Insert(tx, entry);
        }

        tx.Commit();
    }

    internal static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS query_log (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                request_id TEXT NOT NULL,
                mode TEXT NOT NULL,
                question TEXT NOT NULL,
                answer TEXT,
                outcome TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                total_ms REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS query_log_at ON query_log(at);
            """;
        cmd.ExecuteNonQuery();
        return connection;
    }

    private SqliteConnection Connection => _connection ?? throw new InvalidOperationException("agent.db is not open yet");

    private void Insert(SqliteTransaction tx, QueryLogEntry e)
    {
        using var cmd = Connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO query_log(at, request_id, mode, question, answer, outcome, prompt_tokens, completion_tokens, total_ms)
            VALUES ($at, $id, $mode, $q, $a, $o, $pt, $ct, $ms)
            """;
        cmd.Parameters.AddWithValue("$at", e.At.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("$id", e.RequestId);
        cmd.Parameters.AddWithValue("$mode", e.Mode);
        cmd.Parameters.AddWithValue("$q", e.Question);
        cmd.Parameters.AddWithValue("$a", (object?)e.Answer ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$o", e.Outcome);
        cmd.Parameters.AddWithValue("$pt", e.PromptTokens);
        cmd.Parameters.AddWithValue("$ct", e.CompletionTokens);
        cmd.Parameters.AddWithValue("$ms", e.TotalMs);
        cmd.ExecuteNonQuery();
    }

    internal void ApplyRetention()
    {
        var o = options.Value;
        using var cmd = Connection.CreateCommand();
        cmd.CommandText = """
            DELETE FROM query_log WHERE at < $cutoff;
            DELETE FROM query_log WHERE seq <= (SELECT MAX(seq) FROM query_log) - $max;
            """;
        cmd.Parameters.AddWithValue("$cutoff", time.GetUtcNow().AddDays(-o.QueryLogRetentionDays).UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("$max", o.QueryLogMaxEntries);
        var removed = cmd.ExecuteNonQuery();
        if (removed > 0)
        {
            Hosting.Log.QueryLogPruned(logger, removed);
        }
    }
}
