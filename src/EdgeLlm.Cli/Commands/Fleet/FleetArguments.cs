using System.Globalization;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>Parsers for the operator CLI's argument forms: durations like <c>1d</c> and artifacts like <c>NAME@VERSION</c>.</summary>
internal static class FleetArguments
{
    /// <summary>
    /// A positive duration: digits with an optional unit, <c>d</c>, <c>h</c>, <c>m</c> or <c>s</c> (default seconds):
    /// <c>1d</c>, <c>12h</c>, <c>30m</c>, <c>3600s</c>, <c>3600</c>.
    /// </summary>
    public static TimeSpan ParseDuration(string text, string option)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var hasUnit = trimmed.Length > 0 && char.IsAsciiLetter(trimmed[^1]);
        var unit = hasUnit ? char.ToLowerInvariant(trimmed[^1]) : 's';
        var digits = hasUnit ? trimmed[..^1] : trimmed;
        long perUnit = unit switch
        {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => 0,
        };
        if (perUnit == 0 || digits.Length == 0 || !digits.All(char.IsAsciiDigit)
            || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count <= 0
            || count > TimeSpan.MaxValue.TotalSeconds / perUnit / 2)
        {
            throw new ArgumentException($"{option} '{text}' is not a duration: give a positive number with d, h, m or s (e.g. 1d, 12h, 30m, 3600s)");
        }

        return TimeSpan.FromSeconds(count * perUnit);
    }

    /// <summary><c>NAME@VERSION</c> (split at the last '@'; neither part empty nor containing spaces).</summary>
    public static ArtifactRef ParseArtifact(string text, string option)
    {
        ArgumentNullException.ThrowIfNull(text);
        var at = text.LastIndexOf('@');
        var name = at > 0 ? text[..at] : "";
        var version = at >= 0 ? text[(at + 1)..] : "";
        if (name.Length == 0 || version.Length == 0 || text.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException($"{option} '{text}' is not NAME@VERSION (e.g. qwen2.5-0.5b-int4@1.2.0)");
        }

        return new ArtifactRef { Name = name, Version = version };
    }

    /// <summary>A comma-separated list of positive integers, e.g. <c>1000,2500,5000</c>.</summary>
    public static IReadOnlyList<int> ParseCounts(string text, string option)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var counts = new List<int>(parts.Length);
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                throw new ArgumentException($"{option} '{text}' is not a list of positive whole numbers (e.g. 1000,2500,5000)");
            }

            counts.Add(n);
        }

        return counts;
    }
}
