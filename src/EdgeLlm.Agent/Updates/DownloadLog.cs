using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Updates;

/// <summary>Log lines of artifact downloads (event ids 300 to 319).</summary>
internal static partial class DownloadLog
{
    [LoggerMessage(300, LogLevel.Information, "Downloading artifact {Sha256} from byte {Offset}")]
    public static partial void Starting(ILogger logger, string sha256, long offset);

    [LoggerMessage(301, LogLevel.Information, "Artifact {Sha256} waits {Wait} for the maintenance window {Window}")]
    public static partial void WaitingForWindow(ILogger logger, string sha256, TimeSpan wait, string window);

    [LoggerMessage(302, LogLevel.Debug, "Download of {Sha256} interrupted at byte {Offset} (attempt {Attempt}): {Error}; resuming in {DelayMs} ms")]
    public static partial void Interrupted(ILogger logger, string sha256, long offset, int attempt, string error, double delayMs);

    [LoggerMessage(303, LogLevel.Warning, "Artifact {Sha256}: the downloaded bytes hash to {Actual}; the part file is deleted and the download starts over")]
    public static partial void HashMismatch(ILogger logger, string sha256, string actual);

    [LoggerMessage(304, LogLevel.Information, "Artifact {Sha256} downloaded: {Bytes} bytes, {Received} received in this run")]
    public static partial void Finished(ILogger logger, string sha256, long bytes, long received);

    [LoggerMessage(305, LogLevel.Warning, "Artifact {Sha256}: the server ignored the range request; downloading from the start")]
    public static partial void RangeIgnored(ILogger logger, string sha256);

    [LoggerMessage(306, LogLevel.Information, "Artifact {Sha256}: writing through the page cache instead of directly: {Reason}")]
    public static partial void DirectWritesRefused(ILogger logger, string sha256, string reason);

    [LoggerMessage(307, LogLevel.Information, "Artifact {Sha256}: the written bytes are left to the kernel's writeback: {Reason}")]
    public static partial void WritebackRefused(ILogger logger, string sha256, string reason);
}
