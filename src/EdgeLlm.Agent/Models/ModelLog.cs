using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Models;

/// <summary>Log lines of the hot model switch.</summary>
internal static partial class ModelLog
{
    [LoggerMessage(400, LogLevel.Information, "Model switched to {Id} ({Version}); new requests use it, requests on {OldId} {OldVersion} finish on it")]
    public static partial void Switched(ILogger logger, string id, string version, string oldId, string oldVersion);

    [LoggerMessage(401, LogLevel.Information, "Model {Id} ({Version}) unloaded: no request uses it any more")]
    public static partial void Retired(ILogger logger, string id, string version);
}
