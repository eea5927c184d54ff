using Microsoft.Extensions.Logging;

namespace EdgeLlm.Fleet.Hosting;

/// <summary>Every log line of the fleet server. Secrets (keys, tokens, credentials) are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Fleet store: {Store}")]
    public static partial void StoreReady(ILogger logger, string store);

    [LoggerMessage(2, LogLevel.Information, "First start: admin key '{Name}' created from EDGELLM_FLEET_ADMIN_KEY")]
    public static partial void AdminKeyFromEnvironment(ILogger logger, string name);

    [LoggerMessage(3, LogLevel.Warning, "First start: admin key '{Name}' generated and printed on stdout; keep it, it is not shown again")]
    public static partial void AdminKeyGenerated(ILogger logger, string name);

    [LoggerMessage(4, LogLevel.Information, "EDGELLM_FLEET_ADMIN_KEY is ignored: the store already has API keys")]
    public static partial void AdminKeyIgnored(ILogger logger);

    [LoggerMessage(10, LogLevel.Information, "Device {DeviceId} enrolled with token {TokenHashPrefix}")]
    public static partial void DeviceEnrolled(ILogger logger, string deviceId, string tokenHashPrefix);

    [LoggerMessage(11, LogLevel.Warning, "Enrollment of {DeviceId} refused: {Outcome}")]
    public static partial void EnrollRefused(ILogger logger, string deviceId, string outcome);

    [LoggerMessage(12, LogLevel.Information, "Device {DeviceId} rotated its credential")]
    public static partial void CredentialRotated(ILogger logger, string deviceId);

    [LoggerMessage(13, LogLevel.Debug, "Telemetry from {DeviceId}: {Accepted} new, {Duplicates} repeats")]
    public static partial void TelemetryStored(ILogger logger, string deviceId, int accepted, int duplicates);

    [LoggerMessage(14, LogLevel.Warning, "Telemetry from {DeviceId} rate limited")]
    public static partial void TelemetryRateLimited(ILogger logger, string deviceId);

    [LoggerMessage(20, LogLevel.Information, "{Actor}: {Action} {Target}")]
    public static partial void Audited(ILogger logger, string actor, string action, string target);

    [LoggerMessage(21, LogLevel.Warning, "Dashboard sign-in refused from {Remote}")]
    public static partial void SignInRefused(ILogger logger, string remote);

    [LoggerMessage(90, LogLevel.Error, "Unhandled error on {Method} {Path}")]
    public static partial void Unhandled(ILogger logger, Exception exception, string method, string path);
}
