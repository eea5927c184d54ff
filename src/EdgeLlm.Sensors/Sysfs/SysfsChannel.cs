using System.Globalization;
using EdgeLlm.Sensors.Ingestion;

namespace EdgeLlm.Sensors.Sysfs;

/// <summary>
/// One value file in sysfs. <c>_raw</c> IIO channels become <c>(raw + offset) × scale</c> as the IIO ABI defines; every
/// value is then multiplied by <see cref="Factor"/> to turn the kernel's milli-units into the unit people read.
/// </summary>
internal sealed record SysfsChannel : IPolledSensor
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    public required string Unit { get; init; }

    public required SensorSourceKind Kind { get; init; }

    public required string ValuePath { get; init; }

    /// <summary>IIO <c>_scale</c> file for a raw channel, or null.</summary>
    public string? ScalePath { get; init; }

    /// <summary>IIO <c>_offset</c> file for a raw channel, or null.</summary>
    public string? OffsetPath { get; init; }

    public double Factor { get; init; } = 1;

    public bool TryRead(out double value, out RejectReason reason, out string detail)
    {
        value = 0;
        if (!TryReadNumber(ValuePath, out var v, out reason, out detail))
        {
            return false;
        }

        var offset = 0.0;
        var scale = 1.0;
        if ((OffsetPath is not null && !TryReadNumber(OffsetPath, out offset, out reason, out detail))
            || (ScalePath is not null && !TryReadNumber(ScalePath, out scale, out reason, out detail)))
        {
            return false;
        }

        value = (v + offset) * scale * Factor;
        return true;
    }

    internal static bool TryReadNumber(string path, out double value, out RejectReason reason, out string detail)
    {
        value = 0;
        string text;
        try
        {
            text = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            (reason, detail) = (RejectReason.SourceMissing, $"{path} is gone");
            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            (reason, detail) = (RejectReason.ReadFailed, $"{path}: {ex.Message}");
            return false;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            var shown = text.Length > 40 ? text[..40] + "…" : text;
            (reason, detail) = (RejectReason.NotNumeric, $"{path} holds '{shown}', not a number");
            return false;
        }

        if (!double.IsFinite(value))
        {
            (reason, detail) = (RejectReason.NotFinite, $"{path} holds '{text}'");
            return false;
        }

        (reason, detail) = (default, "");
        return true;
    }
}
