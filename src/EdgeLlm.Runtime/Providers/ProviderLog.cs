using Microsoft.Extensions.Logging;

namespace EdgeLlm.Runtime.Providers;

/// <summary>Log messages of execution-provider selection (event ids 1100-1199).</summary>
internal static partial class ProviderLog
{
    [LoggerMessage(1100, LogLevel.Information, "Execution provider library '{Name}' registered from {Path}")]
    public static partial void LibraryRegistered(ILogger logger, string name, string path);

    [LoggerMessage(1101, LogLevel.Warning, "{Reason}")]
    public static partial void Skipped(ILogger logger, string reason);

    [LoggerMessage(1102, LogLevel.Information, "Model runs on execution provider {Provider} ({Device})")]
    public static partial void Active(ILogger logger, string provider, ProviderDevice device);

    [LoggerMessage(1103, LogLevel.Warning, "Falling back to the CPU execution provider: {Reason}")]
    public static partial void CpuFallback(ILogger logger, string reason);

    [LoggerMessage(1104, LogLevel.Debug, "Provider policy is CpuOnly; {Count} configured provider libraries are not loaded")]
    public static partial void CpuOnly(ILogger logger, int count);
}
