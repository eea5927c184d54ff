using System.Globalization;
using System.Reflection;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Contracts.Mqtt;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Mqtt;

/// <summary>
/// The device's status as published on the retained status topic. Changes (queue depth, stopping) only signal;
/// one loop publishes the latest status, so a burst of changes costs one or two messages.
/// </summary>
internal sealed class StatusBoard(ActiveModel model, TimeProvider time) : IDisposable
{
    public static readonly string Version =
        typeof(StatusBoard).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    private readonly Signal _changed = new();
    private readonly string _startedAt = Iso(time.GetUtcNow());
    private string? _stoppingSince;

    /// <summary>Asks waiting in the agent's inbox (the scheduler's queue is added to it).</summary>
    public Func<int> InboxDepth { get; set; } = () => 0;

    public StatusMessage Current() => new()
    {
        State = _stoppingSince is not null ? AgentStates.Stopping : model.Model is null ? AgentStates.RetrievalOnly : AgentStates.Ready,
        Model = model.Ref,
        Provider = model.Model?.Model.ActiveProvider.Name,
        QueueDepth = InboxDepth() + (model.Model?.Scheduler.QueueDepth ?? 0),
        Version = Version,
        Since = _stoppingSince ?? _startedAt,
    };

    public StatusMessage Offline() => new() { State = AgentStates.Offline, Version = Version, Since = Iso(time.GetUtcNow()) };

    public void MarkStopping()
    {
        _stoppingSince = Iso(time.GetUtcNow());
        Signal();
    }

    /// <summary>Something in the status changed; the pending publish carries every change made before it.</summary>
    public void Signal() => _changed.Set();

    public Task WaitForChangeAsync(CancellationToken cancellationToken) => _changed.WaitAsync(cancellationToken);

    public void Dispose() => _changed.Dispose();

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}

/// <summary>Publishes the status whenever <see cref="StatusBoard"/> signals a change.</summary>
internal sealed class StatusPublisher(StatusBoard board, ActiveModel model, MqttConnection connection, ILogger<StatusPublisher> logger) : AgentService
{
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        model.QueueChanged += board.Signal;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await board.WaitForChangeAsync(stoppingToken).ConfigureAwait(false);
                if (!connection.IsConnected)
                {
                    continue;
                }

                try
                {
                    // Not cancelled by stopping: a publish cut off mid-packet leaves the connection unusable for the offline status.
                    await connection.PublishAsync(connection.StatusMessageOf(board.Current()), CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The connection dropped under us: the reconnect publishes the status again.
                    Log.StatusPublishFailed(logger, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            model.QueueChanged -= board.Signal;
        }
    }
}
