using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Hosting;

/// <summary>Every log line of the agent. Questions and answers are never logged above Trace.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Model {Id} ({Version}) loaded on {Provider}")]
    public static partial void ModelLoaded(ILogger logger, string id, string version, string provider);

    [LoggerMessage(2, LogLevel.Warning, "The model in {Folder} is SYNTHESIZED (random weights): its answers are noise. It runs because it was asked for explicitly.")]
    public static partial void SynthesizedModel(ILogger logger, string folder);

    [LoggerMessage(3, LogLevel.Warning, "RETRIEVAL-ONLY mode: {Reason}. Questions that need a model get model_unavailable.")]
    public static partial void RetrievalOnly(ILogger logger, string reason);

    [LoggerMessage(10, LogLevel.Information, "Embedded MQTT broker listening on {Address}:{Port} ({Users} configured users)")]
    public static partial void EmbeddedBrokerStarted(ILogger logger, string address, int port, int users);

    [LoggerMessage(11, LogLevel.Warning, "Broker refused login of client {ClientId} as {User}")]
    public static partial void BrokerLoginRefused(ILogger logger, string clientId, string user);

    [LoggerMessage(12, LogLevel.Warning, "Broker refused publish by {User} to {Topic}: not permitted")]
    public static partial void BrokerPublishRefused(ILogger logger, string user, string topic);

    [LoggerMessage(13, LogLevel.Warning, "Broker refused subscription by {User} to {Topic}: not permitted")]
    public static partial void BrokerSubscribeRefused(ILogger logger, string user, string topic);

    [LoggerMessage(29, LogLevel.Warning, "The broker refused the subscription to {Topic} ({Code}); messages there are not received")]
    public static partial void SubscriptionRefused(ILogger logger, string topic, string code);

    [LoggerMessage(20, LogLevel.Information, "Connected to the MQTT broker ({Endpoint}), connection {Count}; subscribed and status published")]
    public static partial void BrokerConnected(ILogger logger, string endpoint, int count);

    [LoggerMessage(21, LogLevel.Warning, "Connecting to the MQTT broker ({Endpoint}) failed, attempt {Attempt}: {Error}; retrying in {DelayMs} ms")]
    public static partial void BrokerConnectFailed(ILogger logger, string endpoint, int attempt, string error, int delayMs);

    [LoggerMessage(22, LogLevel.Warning, "Disconnected from the MQTT broker ({Reason}) {Error}; reconnecting")]
    public static partial void BrokerDisconnected(ILogger logger, string reason, string error);

    [LoggerMessage(23, LogLevel.Warning, "Clean disconnect from the broker failed: {Error}")]
    public static partial void BrokerDisconnectFailed(ILogger logger, string error);

    [LoggerMessage(24, LogLevel.Warning, "Publishing the status failed: {Error}")]
    public static partial void StatusPublishFailed(ILogger logger, string error);

    [LoggerMessage(30, LogLevel.Warning, "Ask {Id} refused: {Code}: {Message}")]
    public static partial void AskRefused(ILogger logger, string id, string code, string message);

    [LoggerMessage(31, LogLevel.Warning, "Cancel message refused: {Error}")]
    public static partial void CancelRefused(ILogger logger, string error);

    [LoggerMessage(32, LogLevel.Information, "Cancel for request {Id} (running: {Found})")]
    public static partial void CancelReceived(ILogger logger, string id, bool found);

    [LoggerMessage(33, LogLevel.Error, "Handling a message on {Topic} failed")]
    public static partial void IntakeFailed(ILogger logger, string topic, Exception ex);

    [LoggerMessage(34, LogLevel.Information, "Request {Id} finished: {Outcome} after {Chunks} chunks in {Ms:F1} ms")]
    public static partial void RequestFinished(ILogger logger, string id, string outcome, int chunks, double ms);

    [LoggerMessage(35, LogLevel.Error, "Request {Id} failed")]
    public static partial void RequestFailed(ILogger logger, string id, Exception ex);

    [LoggerMessage(36, LogLevel.Warning, "Reply {Id} to {Topic} lost: {Error}")]
    public static partial void ReplyLost(ILogger logger, string id, string topic, string error);

    [LoggerMessage(37, LogLevel.Information, "Stopping: {Count} requests in flight get up to {GraceSeconds} s to finish")]
    public static partial void Draining(ILogger logger, int count, int graceSeconds);

    [LoggerMessage(40, LogLevel.Information, "Query log: {Count} old entries removed")]
    public static partial void QueryLogPruned(ILogger logger, int count);

    [LoggerMessage(50, LogLevel.Information, "systemd watchdog: pinging every {PeriodMs} ms")]
    public static partial void WatchdogEnabled(ILogger logger, double periodMs);

    [LoggerMessage(51, LogLevel.Warning, "systemd watchdog: unhealthy (broker supervisor {Broker}, dispatcher {Dispatcher}); not pinging")]
    public static partial void WatchdogUnhealthy(ILogger logger, bool broker, bool dispatcher);
}
