using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Updates;

/// <summary>Log lines of model activation.</summary>
internal static partial class UpdateLog
{
    [LoggerMessage(410, LogLevel.Warning, "Model update {Slot} rolled back: {Reason}")]
    public static partial void RolledBack(ILogger logger, string slot, string reason);

    [LoggerMessage(411, LogLevel.Information, "Model update {Slot} passed probation and is committed")]
    public static partial void Committed(ILogger logger, string slot);

    [LoggerMessage(412, LogLevel.Warning, "Model slots: an activation of {Slot} was interrupted at {Step} after the switch with no earlier model; keeping it")]
    public static partial void RecoveredKept(ILogger logger, string slot, string step);

    [LoggerMessage(413, LogLevel.Warning, "Model slots: an activation of {Slot} was interrupted at {Step}; undoing it ({Reason})")]
    public static partial void RecoveredUndone(ILogger logger, string slot, string step, string reason);

    [LoggerMessage(415, LogLevel.Warning, "Model slots: slots.json is unreadable ({Error}); rebuilt from the active and previous links")]
    public static partial void StateRebuilt(ILogger logger, string error);

    [LoggerMessage(416, LogLevel.Information, "Model update {Slot}: the agent stopped normally during probation; going on with {Left} answers to go")]
    public static partial void ProbationResumed(ILogger logger, string slot, int left);

    [LoggerMessage(417, LogLevel.Error, "Model slots: recovery failed ({Error}); the agent starts with models/active as it is")]
    public static partial void RecoveryFailed(ILogger logger, string error);

    [LoggerMessage(414, LogLevel.Error, "Model update {Slot}: ending probation failed")]
    public static partial void ProbationEndFailed(ILogger logger, string slot, Exception exception);
}
