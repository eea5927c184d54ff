using System.Globalization;
using System.Text.Json;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Fleet;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>Which items give way first when the outbox is full.</summary>
internal enum OutboxPriority
{
    /// <summary>Periodic metrics and query log entries: the next sample says much the same.</summary>
    Low = 0,

    /// <summary>Events and errors.</summary>
    High = 1,
}

/// <summary>An item to enqueue; <paramref name="Data"/> is a JSON object or null.</summary>
internal sealed record OutboxEntry(DateTimeOffset Ts, string Kind, string Name, double? Value, string? Data, OutboxPriority Priority)
{
    public static OutboxEntry Metric(DateTimeOffset ts, string name, double value, string? data = null) =>
        new(ts, TelemetryKinds.Metric, name, value, data, OutboxPriority.Low);

    public static OutboxEntry Event(DateTimeOffset ts, string name, string? data = null) =>
        new(ts, TelemetryKinds.Event, name, null, data, OutboxPriority.High);
}

/// <summary>
/// The durable telemetry outbox: table <c>fleet_outbox</c> in <c>agent.db</c>, on its own connection (WAL,
/// <c>synchronous = FULL</c>: a committed item survives power loss, so its seq is never handed out twice). The seq is
/// SQLite's AUTOINCREMENT key and never reused; it is the telemetry seq the server deduplicates by. Items leave only when
/// the server acknowledged them (<see cref="Acknowledge"/>) or when the outbox is over <see cref="MaxBytes"/>: then the
/// oldest low-priority items go first, then the oldest others; the drops are counted per priority in the state table
/// and an <c>outbox_dropped</c> metric tells the server (one at a time: while one waits for upload, later drops add up
/// for the next, so the reports cannot crowd out what they report on). All access is serialized: one writer.
/// </summary>
internal sealed class Outbox : IDisposable
{
    /// <summary>Keys of the <c>state</c> table.</summary>
    public const string DroppedLowKey = "fleet_outbox_dropped_low";
    public const string DroppedHighKey = "fleet_outbox_dropped_high";
    private const string ReportedLowKey = "fleet_outbox_dropped_reported_low";
    private const string ReportedHighKey = "fleet_outbox_dropped_reported_high";
    private const string ReportSeqKey = "fleet_outbox_dropped_report_seq";

    /// <summary>The server's body limit is 1 MiB; the envelope and commas need a little room.</summary>
    public const int MaxBatchBytes = 1_000_000;

    /// <summary>Largest item kept; bigger ones (a huge query log entry) are cut by their producer.</summary>
    public const int MaxItemBytes = 64 * 1024;

    private readonly Lock _gate = new();
    private readonly string _path;
    private readonly TimeProvider _time;
    private SqliteConnection? _connection;
    private SqliteTransaction? _tx;
    private long _bytes;

    public Outbox(IOptions<AgentOptions> agent, IOptions<FleetOptions> fleet, TimeProvider time)
        : this(Path.Combine(agent.Value.DataDir, "agent.db"), fleet.Value.OutboxMaxBytes, time)
    {
    }

    internal Outbox(string path, long maxBytes, TimeProvider time)
    {
        _path = path;
        MaxBytes = maxBytes;
        _time = time;
    }

    public long MaxBytes { get; }

    /// <summary>Bytes held (each item counted as its JSON on the wire).</summary>
    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                _ = Connection;
                return _bytes;
            }
        }
    }

    public long Count => (long)Scalar("SELECT COUNT(*) FROM fleet_outbox")!;

    /// <summary>The highest seq ever handed out (0 before the first item).</summary>
    public long LastSeq => Scalar("SELECT seq FROM sqlite_sequence WHERE name = 'fleet_outbox'") is long s ? s : 0;

    /// <summary>Items dropped because the outbox was full, since the outbox was created.</summary>
    public (long Low, long High) Dropped
    {
        get
        {
            lock (_gate)
            {
                return (StateLong(DroppedLowKey), StateLong(DroppedHighKey));
            }
        }
    }

    public void Enqueue(OutboxEntry entry) => Enqueue([entry]);

    /// <summary>Adds the items in one transaction, in order, then enforces the bound.</summary>
    public void Enqueue(IReadOnlyCollection<OutboxEntry> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            using var tx = Begin();
            foreach (var e in entries)
            {
                Insert(e);
            }

            Trim();
            var (low, high) = (StateLong(DroppedLowKey), StateLong(DroppedHighKey));
            var (reportedLow, reportedHigh) = (StateLong(ReportedLowKey), StateLong(ReportedHighKey));
            // One report at a time: while the last one waits for upload, further drops accumulate for the next.
            if ((low > reportedLow || high > reportedHigh) && !Exists(StateLong(ReportSeqKey)))
            {
                // The loss is itself telemetry, and high priority: it outlives the metrics it replaces.
                var data = $$"""{"low":{{low - reportedLow}},"high":{{high - reportedHigh}},"total_low":{{low}},"total_high":{{high}}}""";
                var reportSeq = Insert(new OutboxEntry(_time.GetUtcNow(), TelemetryKinds.Metric, "outbox_dropped", low - reportedLow + high - reportedHigh, data, OutboxPriority.High));
                SetState(ReportedLowKey, low);
                SetState(ReportedHighKey, high);
                SetState(ReportSeqKey, reportSeq);
                // Drops this insert causes are reported with the next enqueue.
                Trim();
            }

            tx.Commit();
        }
    }

    /// <summary>The oldest items, in seq order: at most <paramref name="maxItems"/> and <see cref="MaxBatchBytes"/> (at least one).</summary>
    public IReadOnlyList<TelemetryItem> ReadBatch(int maxItems)
    {
        lock (_gate)
        {
            using var cmd = Connection.CreateCommand();
            cmd.CommandText = "SELECT seq, ts, kind, name, value, data, bytes FROM fleet_outbox ORDER BY seq LIMIT $n";
            cmd.Parameters.AddWithValue("$n", maxItems);
            using var r = cmd.ExecuteReader();
            var items = new List<TelemetryItem>();
            long size = 0;
            while (r.Read())
            {
                size += r.GetInt64(6) + 1;
                if (items.Count > 0 && size > MaxBatchBytes)
                {
                    break;
                }

                items.Add(new TelemetryItem
                {
                    Seq = r.GetInt64(0),
                    Ts = DateTimeOffset.ParseExact(r.GetString(1), "O", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                    Kind = r.GetString(2),
                    Name = r.GetString(3),
                    Value = r.IsDBNull(4) ? null : r.GetDouble(4),
                    Data = r.IsDBNull(5) ? null : JsonElement.Parse(r.GetString(5)),
                });
            }

            return items;
        }
    }

    /// <summary>The server stored every item from <paramref name="firstSeq"/> to <paramref name="lastSeq"/>: they leave the outbox.</summary>
    public void Acknowledge(long firstSeq, long lastSeq) => Remove(firstSeq, lastSeq);

    /// <summary>Removes one item the server refuses for good (and says so in the log and in telemetry through the caller).</summary>
    public void Reject(long seq) => Remove(seq, seq);

    /// <summary>Deletes every queued item of <paramref name="kind"/> (query log entries when the policy is withdrawn); returns how many.</summary>
    public int Purge(string kind)
    {
        lock (_gate)
        {
            using var tx = Begin();
            var removed = Sum("kind = $k", ("$k", kind));
            var count = Execute("DELETE FROM fleet_outbox WHERE kind = $k", ("$k", kind));
            tx.Commit();
            _bytes -= removed;
            return count;
        }
    }

    public string? GetState(string key)
    {
        lock (_gate)
        {
            using var cmd = Connection.CreateCommand();
            cmd.CommandText = "SELECT value FROM state WHERE key = $k";
            cmd.Parameters.AddWithValue("$k", key);
            return cmd.ExecuteScalar() as string;
        }
    }

    public void SetState(string key, string value)
    {
        lock (_gate)
        {
            WriteState(key, value);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _tx?.Dispose();
            _connection?.Dispose();
            _connection = null;
        }
    }

    /// <summary>The connection, opened on first use (the data directory exists by then: agent.db is opened first).</summary>
    private SqliteConnection Connection
    {
        get
        {
            if (_connection is not null)
            {
                return _connection;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_path))!);
            var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _path, Pooling = false, DefaultTimeout = 30 }.ToString());
            c.Open();
            using (var cmd = c.CreateCommand())
            {
                cmd.CommandText = """
                    PRAGMA journal_mode = WAL;
                    PRAGMA synchronous = FULL;
                    CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS fleet_outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        ts TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        name TEXT NOT NULL,
                        value REAL,
                        data TEXT,
                        priority INTEGER NOT NULL,
                        bytes INTEGER NOT NULL);
                    CREATE INDEX IF NOT EXISTS fleet_outbox_priority ON fleet_outbox(priority, seq);
                    """;
                cmd.ExecuteNonQuery();
                cmd.CommandText = "SELECT COALESCE(SUM(bytes), 0) FROM fleet_outbox";
                _bytes = (long)cmd.ExecuteScalar()!;
            }

            return _connection = c;
        }
    }

    /// <summary>Inserts one item; returns its seq.</summary>
    private long Insert(OutboxEntry e)
    {
        var ts = e.Ts.ToUniversalTime();
        // What the item costs on the wire, with a placeholder seq of typical width.
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new TelemetryItem
        {
            Seq = 1_000_000_000,
            Ts = ts,
            Kind = e.Kind,
            Name = e.Name,
            Value = e.Value,
            Data = e.Data is null ? null : JsonElement.Parse(e.Data),
        }, FleetJsonContext.Default.TelemetryItem).Length;
        if (bytes > MaxItemBytes)
        {
            throw new ArgumentException($"telemetry item '{e.Name}' is {bytes} bytes; at most {MaxItemBytes} fit", nameof(e));
        }

        Execute("INSERT INTO fleet_outbox(ts, kind, name, value, data, priority, bytes) VALUES ($ts, $kind, $name, $value, $data, $p, $b)",
            ("$ts", ts.ToString("O", CultureInfo.InvariantCulture)), ("$kind", e.Kind), ("$name", e.Name), ("$value", e.Value), ("$data", e.Data),
            ("$p", (int)e.Priority), ("$b", bytes));
        _bytes += bytes;
        return (long)Scalar("SELECT last_insert_rowid()")!;
    }

    /// <summary>Over the bound: the oldest low-priority items go until it fits, then (only if needed) the oldest high-priority ones.</summary>
    private void Trim()
    {
        foreach (var (priority, key) in new[] { (OutboxPriority.Low, DroppedLowKey), (OutboxPriority.High, DroppedHighKey) })
        {
            var excess = _bytes - MaxBytes;
            if (excess <= 0)
            {
                return;
            }

            long freed = 0, count = 0, cutoff = -1;
            using (var cmd = Connection.CreateCommand())
            {
                cmd.Transaction = _tx;
                cmd.CommandText = "SELECT seq, bytes FROM fleet_outbox WHERE priority = $p ORDER BY seq";
                cmd.Parameters.AddWithValue("$p", (int)priority);
                using var r = cmd.ExecuteReader();
                while (freed < excess && r.Read())
                {
                    cutoff = r.GetInt64(0);
                    freed += r.GetInt64(1);
                    count++;
                }
            }

            if (count > 0)
            {
                Execute("DELETE FROM fleet_outbox WHERE priority = $p AND seq <= $cutoff", ("$p", (int)priority), ("$cutoff", cutoff));
                _bytes -= freed;
                SetState(key, StateLong(key) + count);
            }
        }
    }

    private void Remove(long firstSeq, long lastSeq)
    {
        lock (_gate)
        {
            using var tx = Begin();
            var removed = Sum("seq BETWEEN $a AND $b", ("$a", firstSeq), ("$b", lastSeq));
            Execute("DELETE FROM fleet_outbox WHERE seq BETWEEN $a AND $b", ("$a", firstSeq), ("$b", lastSeq));
            tx.Commit();
            _bytes -= removed;
        }
    }

    /// <summary>A transaction every command of this thread joins until it ends (callers hold the lock).</summary>
    private Transaction Begin() => new(this, _tx = Connection.BeginTransaction());

    private readonly struct Transaction(Outbox owner, SqliteTransaction tx) : IDisposable
    {
        public void Commit() => tx.Commit();

        public void Dispose()
        {
            owner._tx = null;
            tx.Dispose();
        }
    }

    private long Sum(string where, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command($"SELECT COALESCE(SUM(bytes), 0) FROM fleet_outbox WHERE {where}", parameters);
        return (long)cmd.ExecuteScalar()!;
    }

    private long StateLong(string key)
    {
        using var cmd = Command("SELECT value FROM state WHERE key = $k", ("$k", key));
        return cmd.ExecuteScalar() is string s ? long.Parse(s, CultureInfo.InvariantCulture) : 0;
    }

    private void SetState(string key, long value) => WriteState(key, value.ToString(CultureInfo.InvariantCulture));

    private void WriteState(string key, string value) =>
        Execute("INSERT INTO state(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value", ("$k", key), ("$v", value));

    private object? Scalar(string sql, params (string Name, object? Value)[] parameters)
    {
        lock (_gate)
        {
            using var cmd = Command(sql, parameters);
            return cmd.ExecuteScalar();
        }
    }

    private bool Exists(long seq) => seq > 0 && Scalar("SELECT 1 FROM fleet_outbox WHERE seq = $s", ("$s", seq)) is not null;

    private int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = Connection.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return cmd;
    }
}
