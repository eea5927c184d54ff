using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Metrics;

/// <summary>Log lines of the metrics endpoint.</summary>
internal static partial class MetricsLog
{
    [LoggerMessage(500, LogLevel.Information, "Metrics endpoint listening on http://{Endpoint}/metrics")]
    public static partial void Listening(ILogger logger, string endpoint);

    [LoggerMessage(501, LogLevel.Warning, "Metrics endpoint listens on {Endpoint}, which other machines can reach (Metrics:AllowRemote)")]
    public static partial void RemoteAllowed(ILogger logger, string endpoint);

    [LoggerMessage(502, LogLevel.Warning, "A metrics callback failed; the scrape carries the other metrics")]
    public static partial void ObserveFailed(ILogger logger, Exception ex);

    [LoggerMessage(503, LogLevel.Debug, "Metrics connection from {Remote} ended: {Error}")]
    public static partial void ConnectionFailed(ILogger logger, string remote, string error);

    [LoggerMessage(504, LogLevel.Warning, "Metrics endpoint: {Count} connections refused so far, more than Metrics:MaxConnections at once")]
    public static partial void ConnectionsRefused(ILogger logger, long count);
}
