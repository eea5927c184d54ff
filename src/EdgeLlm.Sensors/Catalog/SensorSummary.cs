using System.Globalization;
using System.Text;
using EdgeLlm.Sensors.Storage;

namespace EdgeLlm.Sensors.Catalog;

/// <summary>Compact, unit-labelled text about sensors for an LLM prompt: one line per sensor.</summary>
public static class SensorSummary
{
    /// <summary>
    /// One line per sensor, for example:
    /// <c>spindle_temp (Spindle temperature, °C): now 71.2 at 14:03:05Z; last 1h: min 65, avg 68.4, max 72.1 over 720 readings, trend +2.1 °C/h; high limit 80</c>.
    /// </summary>
    public static string ForPrompt(SensorStore store, IEnumerable<SensorDefinition> sensors, TimeSpan window, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        foreach (var s in sensors)
        {
            var unit = s.Unit.Length == 0 ? "" : " " + s.Unit;
            sb.Append(s.Id).Append(" (").Append(s.Name).Append(s.Unit.Length == 0 ? "" : ", " + s.Unit).Append("): ");
            if (store.Latest(s.Id) is not { } latest)
            {
                sb.Append("no readings stored");
            }
            else
            {
                sb.Append("now ").Append(N(latest.Value)).Append(unit).Append(" at ").Append(Time(latest.Timestamp, now));
                var stats = store.Window(s.Id, now - window, Inclusive(now));
                sb.Append("; last ").Append(Span(window)).Append(": ");
                if (stats.Count == 0)
                {
                    sb.Append("no readings");
                }
                else
                {
                    sb.Append("min ").Append(N(stats.Min!.Value)).Append(", avg ").Append(N(stats.Avg!.Value)).Append(", max ").Append(N(stats.Max!.Value))
                        .Append(" over ").Append(stats.Count).Append(stats.Count == 1 ? " reading" : " readings");
                    if (stats.SlopePerHour is { } slope)
                    {
                        sb.Append(", trend ").Append(slope >= 0 ? "+" : "").Append(N(slope)).Append(unit).Append("/h");
                    }
                }
            }

            if (s.Thresholds is { } t)
            {
                if (t.High is { } high)
                {
                    sb.Append("; high limit ").Append(N(high));
                }

                if (t.Low is { } low)
                {
                    sb.Append("; low limit ").Append(N(low));
                }
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>A window the way people say it: 90s, 15m, 1h, 2d.</summary>
    public static string Span(TimeSpan window) =>
        window.TotalDays >= 1 && window.TotalDays % 1 == 0 ? $"{window.TotalDays:0}d"
        : window.TotalHours >= 1 && window.TotalHours % 1 == 0 ? $"{window.TotalHours:0}h"
        : window.TotalMinutes >= 1 && window.TotalMinutes % 1 == 0 ? $"{window.TotalMinutes:0}m"
        : $"{window.TotalSeconds:0.###}s";

    /// <summary>Parses 90s, 15m, 1h, 2d, 1.5h, or a TimeSpan (00:30:00).</summary>
    public static bool TryParseSpan(string text, out TimeSpan window)
    {
        window = default;
        text = text.Trim();
        if (text.Length >= 2 && char.IsAsciiLetter(text[^1])
            && double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0 && double.IsFinite(n))
        {
            double? seconds = char.ToLowerInvariant(text[^1]) switch { 's' => n, 'm' => n * 60, 'h' => n * 3600, 'd' => n * 86400, 'w' => n * 604800, _ => null };
            if (seconds is { } s && s <= TimeSpan.MaxValue.TotalSeconds / 2)
            {
                window = TimeSpan.FromSeconds(s);
                return true;
            }

            return false;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out window) && window > TimeSpan.Zero;
    }

    /// <summary>The exclusive window end that includes a reading stamped exactly <paramref name="now"/> (the store keeps milliseconds).</summary>
    public static DateTimeOffset Inclusive(DateTimeOffset now) => now.AddMilliseconds(1);

    private static string N(double v) => v.ToString(Math.Abs(v) >= 100 ? "0.#" : "0.###", CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset ts, DateTimeOffset now) =>
        ts.UtcDateTime.ToString(now - ts < TimeSpan.FromDays(1) ? "HH:mm:ss'Z'" : "yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture);
}
