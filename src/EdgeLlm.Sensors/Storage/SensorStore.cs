using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Sensors.Storage;

/// <summary>
/// The sensor time series in SQLite (<c>agent.db</c>, WAL). Raw readings sit in <c>sensor_readings</c> keyed by
/// (sensor, time); every insert also folds into <c>sensor_minutes</c> (count, sum, min, max and trend sums per
/// sensor-minute) in the same transaction, so downsampling needs no background job and window queries read at most
/// one row per minute plus the raw readings of the two partial minutes at the edges.
/// </summary>
/// <remarks>
/// One writer: <see cref="Append"/> and <see cref="ApplyRetention"/> must not run concurrently (the hub's writer
/// loop owns them). Queries may run from any thread at any time; each uses its own pooled connection.
/// One reading per sensor per millisecond: a second reading with the same timestamp is ignored.
/// </remarks>
public sealed class SensorStore : IDisposable
{
    private const long MinuteMs = 60_000;
    private static readonly string[] MinuteColumns = ["$s", "$m", "$n", "$sum", "$min", "$max", "$st", "$stt", "$stv"];
    private readonly SqliteConnection _writer;
    private readonly string _readConnectionString;
    private readonly SensorStoreOptions _options;
    private readonly Dictionary<string, long> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<(long Sensor, long Minute), WindowAccumulator> _minutes = [];
    private readonly SqliteCommand _insert;
    private readonly SqliteParameter _insertSensor, _insertTs, _insertValue;
    private readonly SqliteCommand _upsertMinute;
    private readonly SqliteParameter[] _minuteParams;

    private SensorStore(string path, SensorStoreOptions options)
    {
        Path = path;
        _options = options;
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true };
        _readConnectionString = builder.ToString();
        _writer = new SqliteConnection(_readConnectionString);
        _writer.Open();
        Execute(_writer, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            PRAGMA busy_timeout=5000;
            CREATE TABLE IF NOT EXISTS sensor_ids(key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
            CREATE TABLE IF NOT EXISTS sensor_readings(
                sensor INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
                PRIMARY KEY(sensor, ts)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS sensor_minutes(
                sensor INTEGER NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL, sum REAL NOT NULL,
                vmin REAL NOT NULL, vmax REAL NOT NULL, st REAL NOT NULL, stt REAL NOT NULL, stv REAL NOT NULL,
                PRIMARY KEY(sensor, minute)) WITHOUT ROWID;
            """);
        _insert = _writer.CreateCommand();
        _insert.CommandText = "INSERT OR IGNORE INTO sensor_readings(sensor, ts, value) VALUES($s, $t, $v)";
        _insertSensor = _insert.Parameters.Add("$s", SqliteType.Integer);
        _insertTs = _insert.Parameters.Add("$t", SqliteType.Integer);
        _insertValue = _insert.Parameters.Add("$v", SqliteType.Real);
        _upsertMinute = _writer.CreateCommand();
        _upsertMinute.CommandText = """
            INSERT INTO sensor_minutes(sensor, minute, n, sum, vmin, vmax, st, stt, stv) VALUES($s, $m, $n, $sum, $min, $max, $st, $stt, $stv)
            ON CONFLICT(sensor, minute) DO UPDATE SET n = n + excluded.n, sum = sum + excluded.sum,
                vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax),
                st = st + excluded.st, stt = stt + excluded.stt, stv = stv + excluded.stv
            """;
        _minuteParams = [.. MinuteColumns.Select((n, i) => _upsertMinute.Parameters.Add(n, i < 3 ? SqliteType.Integer : SqliteType.Real))];
        _insert.Prepare();
        _upsertMinute.Prepare();
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Opens (creating when missing) the store in <paramref name="path"/>, usually <c>{data dir}/agent.db</c>.</summary>
    public static SensorStore Open(string path, SensorStoreOptions? options = null)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        try
        {
            return new SensorStore(path, options ?? new SensorStoreOptions());
        }
        catch (SqliteException ex)
        {
            throw new SensorConfigException($"Sensor store '{path}' cannot be opened: {ex.Message}. Check the data directory (--data-dir) and its permissions.", ex);
        }
    }

    /// <summary>Writes a batch in one transaction; returns how many readings were new (duplicates are ignored).</summary>
    public int Append(ReadOnlySpan<SensorReading> batch)
    {
        if (batch.IsEmpty)
        {
            return 0;
        }

        try
        {
            return AppendBatch(batch);
        }
        catch
        {
            // The rollback may have undone new rows of sensor_ids: forget keys so they are looked up again.
            _keys.Clear();
            throw;
        }
    }

    private int AppendBatch(ReadOnlySpan<SensorReading> batch)
    {
        var inserted = 0;
        using var tx = _writer.BeginTransaction();
        _insert.Transaction = tx;
        _upsertMinute.Transaction = tx;
        _minutes.Clear();
        foreach (ref readonly var r in batch)
        {
            var key = Key(r.SensorId, tx);
            var ms = r.Timestamp.ToUnixTimeMilliseconds();
            _insertSensor.Value = key;
            _insertTs.Value = ms;
            _insertValue.Value = r.Value;
            if (_insert.ExecuteNonQuery() == 1)
            {
                inserted++;
                var minute = Math.DivRem(ms, MinuteMs, out var rem) - (rem < 0 ? 1 : 0);
                ref var row = ref CollectionsMarshal.GetValueRefOrAddDefault(_minutes, (key, minute), out var exists);
                if (!exists)
                {
                    // Relative to the minute's start, as sensor_minutes keeps them.
                    row = new WindowAccumulator(minute * MinuteMs);
                }

                row.AddReading(ms, r.Value);
            }
        }

        foreach (var ((sensor, minute), row) in _minutes)
        {
            var (st, stt, stv) = row.TimeSums;
            object[] values = [sensor, minute, row.N, row.Sum, row.Min, row.Max, st, stt, stv];
            for (var i = 0; i < values.Length; i++)
            {
                _minuteParams[i].Value = values[i];
            }

            _upsertMinute.ExecuteNonQuery();
        }

        tx.Commit();
        return inserted;
    }

    /// <summary>Removes raw readings older than <see cref="SensorStoreOptions.RawRetention"/> and minute rows older than <see cref="SensorStoreOptions.MinuteRetention"/>.</summary>
    public RetentionResult ApplyRetention(DateTimeOffset now)
    {
        var rawCutoff = (now - _options.RawRetention).ToUnixTimeMilliseconds();
        var minuteCutoff = (now - _options.MinuteRetention).ToUnixTimeMilliseconds() / MinuteMs;
        long raw = 0, minutes = 0;
        using var tx = _writer.BeginTransaction();
        using var keys = _writer.CreateCommand();
        keys.Transaction = tx;
        keys.CommandText = "SELECT key FROM sensor_ids";
        var all = new List<long>();
        using (var reader = keys.ExecuteReader())
        {
            while (reader.Read())
            {
                all.Add(reader.GetInt64(0));
            }
        }

        // Per sensor, so each delete is a range of the primary key rather than a scan of the table.
        using var deleteRaw = _writer.CreateCommand();
        deleteRaw.Transaction = tx;
        deleteRaw.CommandText = "DELETE FROM sensor_readings WHERE sensor = $s AND ts < $t";
        using var deleteMinutes = _writer.CreateCommand();
        deleteMinutes.Transaction = tx;
        deleteMinutes.CommandText = "DELETE FROM sensor_minutes WHERE sensor = $s AND minute < $t";
        foreach (var key in all)
        {
            deleteRaw.Parameters.Clear();
            deleteRaw.Parameters.AddWithValue("$s", key);
            deleteRaw.Parameters.AddWithValue("$t", rawCutoff);
            raw += deleteRaw.ExecuteNonQuery();
            deleteMinutes.Parameters.Clear();
            deleteMinutes.Parameters.AddWithValue("$s", key);
            deleteMinutes.Parameters.AddWithValue("$t", minuteCutoff);
            minutes += deleteMinutes.ExecuteNonQuery();
        }

        tx.Commit();
        return new RetentionResult(raw, minutes);
    }

    /// <summary>The newest reading of a sensor, or null when it has none.</summary>
    public SensorReading? Latest(string sensorId)
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT r.ts, r.value FROM sensor_readings r JOIN sensor_ids i ON i.key = r.sensor WHERE i.id = $id ORDER BY r.ts DESC LIMIT 1";
        cmd.Parameters.AddWithValue("$id", sensorId);
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? new SensorReading(sensorId, DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), reader.GetDouble(1)) : null;
    }

    /// <summary>Count, min, max, mean and trend of a sensor over [<paramref name="from"/>, <paramref name="to"/>).</summary>
    /// <remarks>
    /// Whole minutes come from the per-minute rows, the partial minutes at both ends from raw readings. Where raw
    /// readings have aged out (<see cref="SensorStoreOptions.RawRetention"/>), the partial edge minutes count as empty.
    /// </remarks>
    public WindowStats Window(string sensorId, DateTimeOffset from, DateTimeOffset to)
    {
        var fromMs = from.ToUnixTimeMilliseconds();
        var toMs = to.ToUnixTimeMilliseconds();
        var acc = new WindowAccumulator(fromMs);
        using var c = OpenReader();
        if (KeyOf(c, sensorId) is not { } key || toMs <= fromMs)
        {
            return acc.ToStats(sensorId, from, to);
        }

        var firstFull = (fromMs + MinuteMs - 1) / MinuteMs;
        var endFull = toMs / MinuteMs;
        if (firstFull < endFull)
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT minute, n, sum, vmin, vmax, st, stt, stv FROM sensor_minutes WHERE sensor = $s AND minute >= $a AND minute < $b";
            cmd.Parameters.AddWithValue("$s", key);
            cmd.Parameters.AddWithValue("$a", firstFull);
            cmd.Parameters.AddWithValue("$b", endFull);
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                acc.AddMinute(reader.GetInt64(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetDouble(3), reader.GetDouble(4), reader.GetDouble(5), reader.GetDouble(6), reader.GetDouble(7));
            }

            AddRaw(c, key, fromMs, firstFull * MinuteMs, ref acc);
            AddRaw(c, key, endFull * MinuteMs, toMs, ref acc);
        }
        else
        {
            AddRaw(c, key, fromMs, toMs, ref acc);
        }

        return acc.ToStats(sensorId, from, to);
    }

    /// <summary>Every crossing of <paramref name="threshold"/> in [<paramref name="from"/>, <paramref name="to"/>), oldest first (raw readings only).</summary>
    public IReadOnlyList<ThresholdCrossing> Crossings(string sensorId, DateTimeOffset from, DateTimeOffset to, double threshold)
    {
        var crossings = new List<ThresholdCrossing>();
        using var c = OpenReader();
        if (KeyOf(c, sensorId) is not { } key)
        {
            return crossings;
        }

        double? previous = null;
        using (var before = c.CreateCommand())
        {
            before.CommandText = "SELECT value FROM sensor_readings WHERE sensor = $s AND ts < $a ORDER BY ts DESC LIMIT 1";
            before.Parameters.AddWithValue("$s", key);
            before.Parameters.AddWithValue("$a", from.ToUnixTimeMilliseconds());
            if (before.ExecuteScalar() is double v)
            {
                previous = v;
            }
        }

        using var cmd = RawCommand(c, key, from.ToUnixTimeMilliseconds(), to.ToUnixTimeMilliseconds());
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            var value = reader.GetDouble(1);
            if (previous is { } p && (p < threshold) != (value < threshold))
            {
                crossings.Add(new ThresholdCrossing(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), value, value >= threshold));
            }

            previous = value;
        }

        return crossings;
    }

    /// <summary>Raw readings of a sensor in [<paramref name="from"/>, <paramref name="to"/>) as (Unix ms, value), oldest first.</summary>
    internal IEnumerable<(long TsMs, double Value)> Raw(string sensorId, DateTimeOffset from, DateTimeOffset to)
    {
        using var c = OpenReader();
        if (KeyOf(c, sensorId) is not { } key)
        {
            yield break;
        }

        using var cmd = RawCommand(c, key, from.ToUnixTimeMilliseconds(), to.ToUnixTimeMilliseconds());
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            yield return (reader.GetInt64(0), reader.GetDouble(1));
        }
    }

    /// <summary>Ids of every sensor with stored readings.</summary>
    public IReadOnlyList<string> StoredSensorIds()
    {
        using var c = OpenReader();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id FROM sensor_ids ORDER BY id";
        using var reader = cmd.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    public void Dispose()
    {
        _insert.Dispose();
        _upsertMinute.Dispose();
        _writer.Dispose();
    }

    private static void AddRaw(SqliteConnection c, long key, long fromMs, long toMs, ref WindowAccumulator acc)
    {
        if (toMs <= fromMs)
        {
            return;
        }

        using var cmd = RawCommand(c, key, fromMs, toMs);
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            acc.AddReading(reader.GetInt64(0), reader.GetDouble(1));
        }
    }

    private static SqliteCommand RawCommand(SqliteConnection c, long key, long fromMs, long toMs)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT ts, value FROM sensor_readings WHERE sensor = $s AND ts >= $a AND ts < $b ORDER BY ts";
        cmd.Parameters.AddWithValue("$s", key);
        cmd.Parameters.AddWithValue("$a", fromMs);
        cmd.Parameters.AddWithValue("$b", toMs);
        return cmd;
    }

    private static long? KeyOf(SqliteConnection c, string sensorId)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT key FROM sensor_ids WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", sensorId);
        return cmd.ExecuteScalar() is long key ? key : null;
    }

    private SqliteConnection OpenReader()
    {
        var c = new SqliteConnection(_readConnectionString);
        c.Open();
        return c;
    }

    private long Key(string sensorId, SqliteTransaction tx)
    {
        if (_keys.TryGetValue(sensorId, out var key))
        {
            return key;
        }

        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO sensor_ids(id) VALUES($id) ON CONFLICT(id) DO NOTHING; SELECT key FROM sensor_ids WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", sensorId);
        key = (long)cmd.ExecuteScalar()!;
        _keys[sensorId] = key;
        return key;
    }

    private static void Execute(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
