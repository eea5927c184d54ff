using Microsoft.Extensions.Logging;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>Log lines of rollouts (event ids 300 to 399).</summary>
internal static partial class RolloutLog
{
    [LoggerMessage(300, LogLevel.Information, "Rollout {Id} of {Bundle}: stage {Stage} started with {Devices} devices")]
    public static partial void StageStarted(ILogger logger, string id, string bundle, int stage, int devices);

    [LoggerMessage(301, LogLevel.Warning, "Rollout {Id} halted: {Reason}")]
    public static partial void Halted(ILogger logger, string id, string reason);

    [LoggerMessage(302, LogLevel.Information, "Rollout {Id} completed")]
    public static partial void Completed(ILogger logger, string id);

    [LoggerMessage(303, LogLevel.Error, "Rollout step failed; retrying at the next period")]
    public static partial void StepFailed(ILogger logger, Exception exception);
}
