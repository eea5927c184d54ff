using System.Globalization;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// A daily maintenance window (<see cref="UpdateOptions.MaintenanceWindow"/>): <c>HH:mm-HH:mm</c>, local time or UTC,
/// start inclusive, end exclusive, possibly across midnight. <see cref="Always"/> is open all day.
/// </summary>
internal sealed record DownloadWindow(TimeSpan Start, TimeSpan End, bool Utc)
{
    public static DownloadWindow Always { get; } = new(TimeSpan.Zero, TimeSpan.FromDays(1), Utc: true);

    /// <summary>The window a setting names; null or blank is <see cref="Always"/>.</summary>
    public static DownloadWindow From(string? setting) =>
        string.IsNullOrWhiteSpace(setting) ? Always
        : TryParse(setting, out var window, out var problem) ? window
        : throw new ArgumentException($"Updates:MaintenanceWindow: {problem}", nameof(setting));

    public static bool TryParse(string text, out DownloadWindow window, out string problem)
    {
        window = Always;
        var value = text.Trim();
        var utc = false;
        foreach (var suffix in new[] { " UTC", "UTC", "Z" })
        {
            if (value.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                (value, utc) = (value[..^suffix.Length].TrimEnd(), true);
                break;
            }
        }

        var parts = value.Split('-');
        if (parts.Length != 2 || !TryTime(parts[0], out var start) || !TryTime(parts[1], out var end))
        {
            problem = $"'{text}' is not HH:mm-HH:mm (local time) or HH:mm-HH:mmZ (UTC), e.g. 02:00-05:00";
            return false;
        }

        if (start == end)
        {
            problem = $"'{text}' starts and ends at the same time; leave it unset to allow downloads at any time";
            return false;
        }

        window = new DownloadWindow(start, end, utc);
        problem = "";
        return true;
    }

    /// <summary>Zero when <paramref name="now"/> is inside the window, else how long until it opens.</summary>
    public TimeSpan UntilOpen(DateTimeOffset now, TimeZoneInfo localZone)
    {
        if (this == Always)
        {
            return TimeSpan.Zero;
        }

        var clock = Utc ? now.ToUniversalTime() : TimeZoneInfo.ConvertTime(now, localZone);
        var time = clock.TimeOfDay;
        var open = Start < End ? time >= Start && time < End : time >= Start || time < End;
        if (open)
        {
            return TimeSpan.Zero;
        }

        var wait = Start - time;
        return wait > TimeSpan.Zero ? wait : wait + TimeSpan.FromDays(1);
    }

    public override string ToString() => this == Always ? "any time" : $"{Start:hh\\:mm}-{End:hh\\:mm}{(Utc ? " UTC" : " local time")}";

    private static bool TryTime(string text, out TimeSpan time) =>
        TimeSpan.TryParseExact(text.Trim(), ["h\\:mm", "hh\\:mm"], CultureInfo.InvariantCulture, out time) && time < TimeSpan.FromDays(1);
}
