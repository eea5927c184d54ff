using System.Text.Json;
using EdgeLlm.Runtime.ChatTemplates;

namespace EdgeLlm.Runtime.Tests.ChatTemplates;

/// <summary>Reads the renderings tests/reference/generate-templates.sh made with Jinja under Hugging Face's settings.</summary>
internal static class TemplateReference
{
    /// <summary>The instant render.py gives strftime_now (FIXED_NOW, a local time); here the local zone is UTC.</summary>
    public static readonly TimeProvider FixedTime = new FixedTimeProvider(new DateTimeOffset(2026, 3, 7, 14, 5, 9, TimeSpan.Zero));

    public static JsonDocument Open(string name) =>
        JsonDocument.Parse(File.ReadAllText(TestPaths.Reference("templates", name + ".json")));

    public static List<ChatTurn> Messages(JsonElement messages) =>
        [.. messages.EnumerateArray().Select(m => new ChatTurn(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!))];

    /// <summary>A short readable form of a string for failure messages.</summary>
    public static string Show(string? s) => s is null ? "null" : JsonSerializer.Serialize(s.Length > 160 ? s[..160] + "…" : s);

    /// <summary>Where two renderings part, with some text either side, so a failure shows the difference.</summary>
    public static string Difference(string expected, string actual)
    {
        var i = 0;
        while (i < expected.Length && i < actual.Length && expected[i] == actual[i])
        {
            i++;
        }

        var from = Math.Max(0, i - 40);
        string Window(string s) => Show(s[Math.Min(from, s.Length)..Math.Min(s.Length, i + 40)]);
        return $"first difference at char {i} (lengths {expected.Length} vs {actual.Length}):\n  expected …{Window(expected)}\n  actual   …{Window(actual)}";
    }

    private sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }
}
