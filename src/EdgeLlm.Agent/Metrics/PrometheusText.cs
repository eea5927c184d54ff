using System.Globalization;
using System.Text;

namespace EdgeLlm.Agent.Metrics;

/// <summary>
/// Writes metric families in the Prometheus text exposition format 0.0.4: <c># HELP</c> and <c># TYPE</c> per family,
/// names made of <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c> with the unit as a suffix (<c>_seconds</c>, <c>_bytes</c>) and
/// <c>_total</c> on counters, label values escaped, histograms as cumulative <c>_bucket{le="…"}</c> up to <c>+Inf</c>
/// with <c>_sum</c> and <c>_count</c>. Families are sorted by name and series by labels, so the output is stable.
/// </summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Write(IEnumerable<MetricFamily> families)
    {
        var sb = new StringBuilder();
        foreach (var (name, family) in families.Select(f => (MetricName(f.Name, f.Unit, f.Kind), f)).OrderBy(p => p.Item1, StringComparer.Ordinal))
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(family.Help)).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(family.Kind switch
            {
                MetricKind.Counter => "counter",
                MetricKind.Histogram => "histogram",
                _ => "gauge",
            }).Append('\n');
            foreach (var series in family.Series.Select(s => (Labels: Labels(s.Labels), Series: s)).OrderBy(p => p.Labels, StringComparer.Ordinal))
            {
                if (family.Kind == MetricKind.Histogram)
                {
                    WriteHistogram(sb, name, series.Labels, series.Series);
                }
                else
                {
                    Sample(sb, name, series.Labels, series.Series.Value);
                }
            }
        }

        return sb.ToString();
    }

    /// <summary>The exposed name: the instrument's name sanitized, its unit as a suffix, and <c>_total</c> for counters.</summary>
    public static string MetricName(string name, string unit, MetricKind kind)
    {
        var n = Sanitize(name, allowColon: true);
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !n.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            n += "_" + suffix;
        }

        return kind == MetricKind.Counter && !n.EndsWith("_total", StringComparison.Ordinal) ? n + "_total" : n;
    }

    /// <summary>Replaces every character outside <c>[a-zA-Z0-9_]</c> (and <c>:</c> in metric names) by <c>_</c>, and a leading digit by <c>_</c> plus the digit.</summary>
    internal static string Sanitize(string name, bool allowColon)
    {
        if (name.Length == 0)
        {
            return "_";
        }

        var sb = new StringBuilder(name.Length + 1);
        if (char.IsAsciiDigit(name[0]))
        {
            sb.Append('_');
        }

        foreach (var c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':') ? c : '_');
        }

        return sb.ToString();
    }

    /// <summary>The suffix a unit (UCUM, as System.Diagnostics.Metrics instruments give it) adds; annotations such as <c>{question}</c> add none.</summary>
    internal static string UnitSuffix(string unit) => unit switch
    {
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        "{token}/s" => "tokens_per_second",
        "" or "1" => "",
        _ when unit.StartsWith('{') && unit.EndsWith('}') => "",
        _ => Sanitize(unit, allowColon: false),
    };

    internal static string EscapeLabelValue(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    internal static string EscapeHelp(string help) =>
        help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    internal static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static void WriteHistogram(StringBuilder sb, string name, string labels, MetricSeries s)
    {
        var bounds = s.Bounds ?? [];
        var counts = s.BucketCounts ?? [];
        long cumulative = 0;
        for (var i = 0; i <= bounds.Count; i++)
        {
            cumulative += i < counts.Count ? counts[i] : 0;
            var le = "le=\"" + (i < bounds.Count ? Number(bounds[i]) : "+Inf") + "\"";
            Sample(sb, name + "_bucket", labels.Length == 0 ? le : labels + "," + le, cumulative);
        }

        Sample(sb, name + "_sum", labels, s.Sum);
        Sample(sb, name + "_count", labels, s.Count);
    }

    private static void Sample(StringBuilder sb, string name, string labels, double value)
    {
        sb.Append(name);
        if (labels.Length > 0)
        {
            sb.Append('{').Append(labels).Append('}');
        }

        sb.Append(' ').Append(Number(value)).Append('\n');
    }

    private static string Labels(IReadOnlyList<KeyValuePair<string, string>> labels) =>
        string.Join(",", labels.Select(l => Sanitize(l.Key, allowColon: false) + "=\"" + EscapeLabelValue(l.Value) + "\""));
}
