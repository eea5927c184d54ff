using Microsoft.Extensions.Logging;

namespace EdgeLlm.Sensors;

/// <summary>Log messages of the sensors piece (event ids 5000-5099).</summary>
internal static partial class SensorsLog
{
    [LoggerMessage(5000, LogLevel.Warning, "Reading of sensor {Sensor} rejected ({Reason}, {Count} so far): {Detail}")]
    public static partial void Rejected(ILogger logger, string sensor, RejectReason reason, long count, string detail);

    [LoggerMessage(5001, LogLevel.Debug, "Reading of sensor {Sensor} rejected ({Reason}, {Count} so far): {Detail}")]
    public static partial void RejectedAgain(ILogger logger, string sensor, RejectReason reason, long count, string detail);

    [LoggerMessage(5002, LogLevel.Information, "Sensors: {Count} known ({Discovered} discovered under {Root})")]
    public static partial void Catalogued(ILogger logger, int count, int discovered, string root);

    [LoggerMessage(5003, LogLevel.Information, "Sensor store {Path}: retention removed {Raw} raw and {Minutes} per-minute rows")]
    public static partial void Retention(ILogger logger, string path, long raw, long minutes);

    [LoggerMessage(5004, LogLevel.Error, "Sensor store writer failed on a batch of {Count} readings")]
    public static partial void WriteFailed(ILogger logger, Exception ex, int count);

    [LoggerMessage(5005, LogLevel.Warning, "Alert publishing failed for sensor {Sensor}")]
    public static partial void PublishFailed(ILogger logger, Exception ex, string sensor);

    [LoggerMessage(5006, LogLevel.Information, "Alert {Kind} on sensor {Sensor}: {Message}")]
    public static partial void Alert(ILogger logger, string kind, string sensor, string message);

    [LoggerMessage(5007, LogLevel.Warning, "GPIO line {Pin} of sensor {Sensor} cannot be opened: {Reason}")]
    public static partial void GpioUnavailable(ILogger logger, int pin, string sensor, string reason);

    [LoggerMessage(5008, LogLevel.Warning, "Sensors:Sensors has settings for '{Id}', but no sensor has that id (check the id with `edgellm sensors list`)")]
    public static partial void UnknownSettings(ILogger logger, string id);
}
