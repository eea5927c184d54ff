using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Fleet;

/// <summary>Log lines of fleet sync. Offline is normal: an outage is logged when it starts and when it ends, not every retry.</summary>
internal static partial class FleetLog
{
    [LoggerMessage(100, LogLevel.Information, "Fleet sync: {Path} not found; the agent runs unmanaged until `edgellm enroll` writes it")]
    public static partial void NotEnrolled(ILogger logger, string path);

    [LoggerMessage(101, LogLevel.Information, "Fleet sync: device {DeviceId} enrolled with {Server}; uploading telemetry and polling desired state")]
    public static partial void Enrolled(ILogger logger, string deviceId, string server);

    [LoggerMessage(102, LogLevel.Error, "Fleet sync: {Error}")]
    public static partial void BadCredentialFile(ILogger logger, string error);

    [LoggerMessage(103, LogLevel.Information, "Fleet server {Server} unreachable ({Error}); telemetry stays in the outbox and is retried with backoff")]
    public static partial void Unreachable(ILogger logger, string server, string error);

    [LoggerMessage(104, LogLevel.Debug, "Fleet {What} failed, attempt {Attempt}: {Error}; retrying in {DelayMs} ms")]
    public static partial void RetryScheduled(ILogger logger, string what, int attempt, string error, double delayMs);

    [LoggerMessage(105, LogLevel.Information, "Fleet server {Server} reachable again after {Attempts} failed attempts")]
    public static partial void Reachable(ILogger logger, string server, int attempts);

    [LoggerMessage(106, LogLevel.Error, "Fleet server {Server} refused the credential of device {DeviceId} ({Status}): it was revoked or rotated. Uploads stop; telemetry is kept. Run `edgellm enroll` with a new token.")]
    public static partial void CredentialRefused(ILogger logger, string server, string deviceId, int status);

    [LoggerMessage(107, LogLevel.Information, "Fleet server asks to slow down (429); next upload in {DelayMs} ms")]
    public static partial void RateLimited(ILogger logger, double delayMs);

    [LoggerMessage(108, LogLevel.Warning, "Fleet server refused telemetry item {Seq} ({Name}) with {Status}: {Error}; it is dropped")]
    public static partial void ItemRejected(ILogger logger, long seq, string name, int status, string error);

    [LoggerMessage(109, LogLevel.Information, "Desired state revision {Revision} wants model {Wanted}; the device runs {Running}. Installing models arrives with bundles: stored and reported only.")]
    public static partial void DesiredModelDiffers(ILogger logger, long revision, string wanted, string running);

    [LoggerMessage(110, LogLevel.Information, "Query log upload is now {State} (local Fleet:QueryLogUpload {Local}, fleet policy {Fleet}, Agent:QueryLog {QueryLog})")]
    public static partial void QueryLogPolicyChanged(ILogger logger, string state, bool local, bool fleet, bool queryLog);

    [LoggerMessage(111, LogLevel.Information, "Query log upload withdrawn: {Count} queued query log entries deleted from the outbox")]
    public static partial void QueryLogPurged(ILogger logger, int count);

    [LoggerMessage(112, LogLevel.Warning, "Fleet {What}: unexpected answer {Status} from {Server}")]
    public static partial void UnexpectedStatus(ILogger logger, string what, int status, string server);
}
