using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Contracts.Mqtt;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace EdgeLlm.Agent.Updates;

/// <summary>One update step as the fleet (<c>update_state</c> event data) and the MQTT <c>events</c> topic receive it.</summary>
internal sealed record UpdateStateMessage
{
    public string Event { get; init; } = UpdateStateReporter.EventName;

    public required string Bundle { get; init; }

    public required string Version { get; init; }

    /// <summary>The state's wire form, e.g. <c>downloading 43%</c>, <c>smoke_test_failed</c>, <c>refused</c>.</summary>
    public required string State { get; init; }

    public string? Reason { get; init; }

    public required string Ts { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(UpdateStateMessage))]
[JsonSerializable(typeof(List<string>))]
internal sealed partial class UpdateJsonContext : JsonSerializerContext;

/// <summary>What the reported state says about updates: the step in progress, and recent failures (newest first).</summary>
internal interface IUpdateStatus
{
    /// <summary><c>updating NAME VERSION: STATE</c> while an update runs, else null.</summary>
    string? InProgress { get; }

    IReadOnlyList<string> Errors { get; }

    /// <summary>The adapter applied to answers, or null.</summary>
    ArtifactRef? Adapter => null;

    /// <summary>The config bundle whose overlay the configuration loads (<c>config/active</c>), or null.</summary>
    ArtifactRef? ConfigBundle => null;
}

/// <summary>Download progress as update events (<c>downloading 43%</c>), named after the desired model or adapter being fetched.</summary>
internal sealed class DownloadProgressEvents(IActivationEvents events, IDesiredModel desired, TimeProvider time) : IDownloadProgress
{
    public void Report(DownloadProgress progress)
    {
        var want = Named(progress.Sha256);
        events.Report(new ActivationEvent(want?.Name ?? progress.Sha256, want?.Version ?? "", progress.State, null, time.GetUtcNow()));
    }

    public void Waiting(string sha256, TimeSpan wait)
    {
        var want = Named(sha256);
        events.Report(new ActivationEvent(want?.Name ?? sha256, want?.Version ?? "", UpdateStates.Downloading,
            string.Create(CultureInfo.InvariantCulture, $"waiting {wait.TotalMinutes:0} min for the maintenance window"), time.GetUtcNow()));
    }

    private ArtifactRef? Named(string sha256) =>
        desired.DesiredAdapter is { } adapter && adapter.Sha256 == sha256 ? adapter : desired.DesiredModel;
}

/// <summary>
/// Sends every update step (<see cref="ActivationEventLog.Reported"/>) to the fleet as an <c>update_state</c> outbox event
/// and to <c>edgellm/v1/{deviceId}/events</c> at QoS 1, and keeps what the reported state shows. Never throws into the
/// activation: a lost event is logged.
/// </summary>
internal sealed class UpdateStateReporter : IUpdateStatus, IHostedService
{
    public const string EventName = "update_state";
    private const int MaxErrors = 10;

    private readonly ActivationEventLog _log;
    private readonly Outbox _outbox;
    private readonly MqttConnection? _mqtt;
    private readonly string _topic;
    private readonly ILogger<UpdateStateReporter> _logger;
    private readonly Lock _gate = new();
    private readonly List<string> _errors = [];
    private string? _inProgress;
    private ActiveAdapter? _adapters;
    private ConfigSlots? _configs;

    public UpdateStateReporter(ActivationEventLog log, Outbox outbox, DesiredStateSync sync, MqttConnection mqtt, ActiveAdapter adapters, ConfigBundleInstaller configs, IOptions<AgentOptions> agent,
        ILogger<UpdateStateReporter> logger)
        : this(log, outbox, mqtt, agent.Value.DeviceId, logger)
    {
        ArgumentNullException.ThrowIfNull(sync);
        ArgumentNullException.ThrowIfNull(configs);
        _adapters = adapters;
        _configs = configs.Slots;
        sync.Updates = this;
    }

    internal UpdateStateReporter(ActivationEventLog log, Outbox outbox, MqttConnection? mqtt, string deviceId, ILogger<UpdateStateReporter> logger)
    {
        (_log, _outbox, _mqtt, _topic, _logger) = (log, outbox, mqtt, MqttTopics.Events(deviceId), logger);
        _log.Reported += OnReported;
    }

    public string? InProgress => Volatile.Read(ref _inProgress);

    public ArtifactRef? Adapter => _adapters?.Current is { } a ? new ArtifactRef { Name = a.Name, Version = a.Version } : null;

    public ArtifactRef? ConfigBundle => _configs?.Active is { } c ? new ArtifactRef { Name = c.Name, Version = c.Version } : null;

    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_gate)
            {
                return [.. _errors];
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _log.Reported -= OnReported;
        return Task.CompletedTask;
    }

    internal static UpdateStateMessage ToMessage(ActivationEvent e) => new()
    {
        Bundle = e.Name,
        Version = e.Version,
        State = e.State,
        Reason = e.Reason,
        Ts = e.At.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
    };

    private void OnReported(ActivationEvent e)
    {
        var text = $"update {e.Name} {e.Version}: {e.Text}";
        Volatile.Write(ref _inProgress, UpdateStates.IsFinal(e.State) ? null : "updating " + text["update ".Length..]);
        if (UpdateStates.IsFailure(e.State))
        {
            lock (_gate)
            {
                _errors.Insert(0, text);
                if (_errors.Count > MaxErrors)
                {
                    _errors.RemoveAt(MaxErrors);
                }
            }
        }

        var payload = JsonSerializer.Serialize(ToMessage(e), UpdateJsonContext.Default.UpdateStateMessage);
        try
        {
            _outbox.Enqueue(OutboxEntry.Event(e.At, EventName, payload));
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException or InvalidOperationException)
        {
            CoordinatorLog.EventNotSent(_logger, e.Text, "the fleet outbox", ex.Message);
        }

        if (_mqtt is not null)
        {
            _ = PublishAsync(e.Text, payload);
        }
    }

    private async Task PublishAsync(string state, string payload)
    {
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(_topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json")
            .Build();
        try
        {
            await _mqtt!.PublishAsync(message, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException or OperationCanceledException)
        {
            CoordinatorLog.EventNotSent(_logger, state, _topic, ex.Message);
        }
    }
}
