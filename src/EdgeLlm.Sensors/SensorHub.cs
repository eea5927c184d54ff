using System.Threading.Channels;
using EdgeLlm.Sensors.Alerts;
using EdgeLlm.Sensors.Catalog;
using EdgeLlm.Sensors.Gpio;
using EdgeLlm.Sensors.Ingestion;
using EdgeLlm.Sensors.Mqtt;
using EdgeLlm.Sensors.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeLlm.Sensors;

/// <summary>
/// The sensors piece in one object, shaped for a host: discovery and the catalog at construction, then
/// <see cref="StartAsync"/> starts sampling sysfs and GPIO sensors, the store's writer and alert publishing;
/// <see cref="StopAsync"/> stops sampling and waits until every accepted reading is written and every alert published.
/// MQTT readings arrive through <see cref="Mqtt"/>, fed by whoever owns the MQTT connection.
/// </summary>
public sealed class SensorHub : IHostedService, IAsyncDisposable
{
    private readonly SensorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IAlertPublisher? _publisher;
    private readonly LiveSensors _live;
    private readonly StoreWriter _writer;
    private readonly Dictionary<string, IPolledSensor> _polled;
    private readonly Dictionary<string, DateTimeOffset> _due = new(StringComparer.Ordinal);
    private readonly Channel<SensorAlert> _alerts = Channel.CreateBounded<SensorAlert>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly ReadingGate _gate;
    private CancellationTokenSource? _stopping;
    private Task? _pollLoop;
    private Task? _alertLoop;

    /// <param name="options">The <c>Sensors</c> section (validated here).</param>
    /// <param name="databasePath">The store, normally <c>{data dir}/agent.db</c>.</param>
    /// <param name="time">Clock for sampling, timestamps and retention.</param>
    /// <param name="loggers">Logging; default none.</param>
    /// <param name="alerts">Where alerts go (the agent's MQTT <c>alerts</c> topic); default: logged only.</param>
    /// <param name="gpio">GPIO access; default System.Device.Gpio when GPIO sensors are configured.</param>
    public SensorHub(SensorOptions options, string databasePath, TimeProvider time, ILoggerFactory? loggers = null, IAlertPublisher? alerts = null, IGpioInputs? gpio = null)
    {
        options.Validate();
        _options = options;
        _time = time;
        _logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger("EdgeLlm.Sensors");
        _publisher = alerts;
        _live = LiveSensors.Build(options, gpio);
        Catalog = _live.Catalog;
        _polled = _live.Polled;
        foreach (var id in _live.UnmatchedSettings)
        {
            SensorsLog.UnknownSettings(_logger, id);
        }

        SensorsLog.Catalogued(_logger, Catalog.Sensors.Count, _live.Discovered, options.SysfsRoot);
        Store = SensorStore.Open(databasePath, options.Store);
        _writer = new StoreWriter(Store, options.Store, time, _logger);
        Rejections = new RejectionCounters(_logger);
        Alerts = new AlertEngine(Catalog.ById);
        _gate = new ReadingGate(Catalog.ById, options, time, Rejections, Accept);
        Mqtt = new MqttTopicSource(options.Mqtt, _gate);
    }

    /// <summary>Every known sensor and name resolution.</summary>
    public SensorCatalog Catalog { get; }

    /// <summary>The time series (queries are safe from any thread).</summary>
    public SensorStore Store { get; }

    /// <summary>MQTT topic mapping: subscribe to its filters and hand it every message.</summary>
    public MqttTopicSource Mqtt { get; }

    /// <summary>The validating entry for readings from any other source.</summary>
    public ISensorReadingSink Sink => _gate;

    /// <summary>Refused readings by sensor and reason.</summary>
    public RejectionCounters Rejections { get; }

    /// <summary>The alert rules.</summary>
    public AlertEngine Alerts { get; }

    /// <summary>Readings written to the store so far.</summary>
    public long Written => _writer.Written;

    /// <summary>Readings accepted but not yet written; near <see cref="SensorStoreOptions.QueueCapacity"/> new ones are refused.</summary>
    public int Backlog => _writer.Backlog;

    /// <summary>Reads a polled sensor (sysfs, GPIO) now, without storing; false with the reason when it cannot be read.</summary>
    public bool TryReadNow(string sensorId, out double value, out string problem)
    {
        (value, problem) = (0, "");
        if (!_polled.TryGetValue(sensorId, out var sensor))
        {
            problem = Catalog.Get(sensorId) is { } s ? $"sensor '{sensorId}' is fed over {s.Source}, not read by the device" : $"no sensor '{sensorId}'";
            return false;
        }

        if (sensor.TryRead(out value, out var reason, out var detail))
        {
            return true;
        }

        problem = $"{reason}: {detail}";
        return false;
    }

    /// <summary>The prompt summary of <paramref name="sensors"/> over the last <paramref name="window"/>.</summary>
    public string Summarize(IEnumerable<SensorDefinition> sensors, TimeSpan window) => SensorSummary.ForPrompt(Store, sensors, window, _time.GetUtcNow());

    /// <summary>Latest, min/max/avg/count, trend and limit crossings of <paramref name="sensor"/> over the last <paramref name="window"/>.</summary>
    public SensorQueryResult Query(SensorDefinition sensor, TimeSpan window) => SensorQueryResult.Run(Store, sensor, window, _time.GetUtcNow());

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = new CancellationTokenSource();
        _writer.Start();
        PollDue(_time.GetUtcNow());
        _pollLoop = Task.Run(() => PollLoopAsync(_stopping.Token), CancellationToken.None);
        _alertLoop = Task.Run(() => AlertLoopAsync(CancellationToken.None), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping is null)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await (_pollLoop ?? Task.CompletedTask).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The loop ends by cancellation.
        }

        await _writer.CompleteAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        _alerts.Writer.TryComplete();
        await (_alertLoop ?? Task.CompletedTask).WaitAsync(cancellationToken).ConfigureAwait(false);
        _stopping.Dispose();
        _stopping = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _live.Dispose();

        Store.Dispose();
    }

    /// <summary>Samples every polled sensor whose period has come; returns how many readings were accepted.</summary>
    internal int PollDue(DateTimeOffset now)
    {
        var accepted = 0;
        foreach (var (id, sensor) in _polled)
        {
            lock (_due)
            {
                if (_due.TryGetValue(id, out var due) && due > now)
                {
                    continue;
                }

                _due[id] = now + Catalog.ById[id].Period;
            }

            if (sensor.TryRead(out var value, out var reason, out var detail))
            {
                accepted += _gate.Submit(id, now, value) ? 1 : 0;
            }
            else
            {
                _gate.Reject(id, reason, detail);
            }
        }

        return accepted;
    }

    private async Task PollLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            DateTimeOffset next;
            lock (_due)
            {
                next = _due.Count == 0 ? now + _options.DefaultPeriod : _due.Values.Min();
            }

            var wait = next - now;
            await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(1), _time, ct).ConfigureAwait(false);
            PollDue(_time.GetUtcNow());
        }
    }

    private bool Accept(SensorReading reading)
    {
        if (!_writer.TryEnqueue(reading))
        {
            return false;
        }

        foreach (var alert in Alerts.Observe(reading))
        {
            SensorsLog.Alert(_logger, alert.State == AlertState.Raised ? alert.Kind.ToString() : "cleared", alert.SensorId, alert.Message);
            _alerts.Writer.TryWrite(alert);
        }

        return true;
    }

    private async Task AlertLoopAsync(CancellationToken ct)
    {
        await foreach (var alert in _alerts.Reader.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (_publisher is null)
            {
                continue;
            }

            try
            {
                await _publisher.PublishAsync(alert, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A broker that is down must not stop alerting for later crossings.
                SensorsLog.PublishFailed(_logger, ex, alert.SensorId);
            }
        }
    }
}
