using System.Globalization;
using System.Text;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>Plain aligned text tables for the operator commands.</summary>
internal static class FleetTable
{
    public static string Format(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = new List<IReadOnlyList<string>> { headers };
        all.AddRange(rows);
        var widths = headers.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in all)
        {
            for (var i = 0; i < row.Count; i++)
            {
                text.Append(i == row.Count - 1 ? row[i] : row[i].PadRight(widths[i] + 2));
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    public static void Write(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows) => Console.Write(Format(headers, rows));

    public static string Time(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "-";
}
