using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Sensors.Storage;

/// <summary>
/// The store's one writer: readings queue in a bounded channel and a single loop writes them in batches (one
/// transaction each) and runs retention every <see cref="SensorStoreOptions.RetentionInterval"/>.
/// </summary>
internal sealed class StoreWriter
{
    private readonly SensorStore _store;
    private readonly SensorStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<SensorReading> _queue;
    private Task? _loop;
    private DateTimeOffset _nextRetention;
    private long _written;

    public StoreWriter(SensorStore store, SensorStoreOptions options, TimeProvider time, ILogger logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        _queue = Channel.CreateBounded<SensorReading>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Readings written so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Readings waiting to be written.</summary>
    public int Backlog => _queue.Reader.Count;

    /// <summary>Queues a reading; false when the queue is full.</summary>
    public bool TryEnqueue(SensorReading reading) => _queue.Writer.TryWrite(reading);

    public void Start()
    {
        _nextRetention = _time.GetUtcNow();
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Stops accepting readings and waits until every queued one is written.</summary>
    public Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        return _loop ?? Task.CompletedTask;
    }

    // Microsoft.Data.Sqlite's async methods run synchronously anyway: the loop awaits readings and writes with the sync API.
    private async Task RunAsync()
    {
        var batch = new SensorReading[_options.BatchSize];
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var n = 0;
            while (n < batch.Length && reader.TryRead(out var r))
            {
                batch[n++] = r;
            }

            try
            {
                Interlocked.Add(ref _written, _store.Append(batch.AsSpan(0, n)));
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException)
            {
                SensorsLog.WriteFailed(_logger, ex, n);
            }

            var now = _time.GetUtcNow();
            if (now >= _nextRetention)
            {
                _nextRetention = now + _options.RetentionInterval;
                RunRetention(now);
            }
        }
    }

    private void RunRetention(DateTimeOffset now)
    {
        try
        {
            var removed = _store.ApplyRetention(now);
            if (removed.RawRows + removed.MinuteRows > 0)
            {
                SensorsLog.Retention(_logger, _store.Path, removed.RawRows, removed.MinuteRows);
            }
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException)
        {
            SensorsLog.WriteFailed(_logger, ex, 0);
        }
    }
}
