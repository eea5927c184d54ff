using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Sensors;

/// <summary>Log lines of the agent's sensors side (the hub logs readings and alerts itself).</summary>
internal static partial class SensorsAgentLog
{
    [LoggerMessage(70, LogLevel.Warning, "Sensor message on {Topic} could not be handled")]
    public static partial void IntakeFailed(ILogger logger, string topic, Exception exception);

    [LoggerMessage(71, LogLevel.Information, "Sensor query {Id} refused: {Code}: {Message}")]
    public static partial void QueryRefused(ILogger logger, string id, string code, string message);

    [LoggerMessage(72, LogLevel.Warning, "Sensor query {Id}: reply to {Topic} lost: {Reason}")]
    public static partial void ReplyLost(ILogger logger, string id, string topic, string reason);
}
