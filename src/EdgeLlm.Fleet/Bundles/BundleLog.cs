using Microsoft.Extensions.Logging;

namespace EdgeLlm.Fleet.Bundles;

/// <summary>Log lines of the bundle registry (event ids 200 to 299).</summary>
internal static partial class BundleLog
{
    [LoggerMessage(200, LogLevel.Information, "Bundle {Name} {Version} uploaded by {Actor}: {Size} bytes, sha256 {Sha256}, key {KeyId}")]
    public static partial void Uploaded(ILogger logger, string name, string version, string actor, long size, string sha256, string keyId);

    [LoggerMessage(201, LogLevel.Warning, "Bundle upload by {Actor} refused: {Reason}")]
    public static partial void UploadRefused(ILogger logger, string actor, string reason);

    [LoggerMessage(202, LogLevel.Error, "Artifact {Sha256} is registered but its file {Path} is missing")]
    public static partial void ArtifactFileMissing(ILogger logger, string sha256, string path);
}
