using System.Globalization;
using System.Text;

namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>
/// Hugging Face's <c>tojson</c> filter, which is Python's <c>json.dumps(x, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)</c>: ", " and ": " separators, floats printed as Python prints them.
/// Positional arguments follow that signature, so <c>tojson(false, 2)</c> indents by two.
/// </summary>
internal static class TemplateJson
{
    public static string Serialize(object? value, CallArguments args)
    {
        var ensureAscii = TemplateOps.IsTrue(args.Get(0, "ensure_ascii", false));
        var indentArg = args.Get(1, "indent");
        var indent = indentArg switch
        {
            null => null,
            string s => s,
            _ => new string(' ', (int)Math.Max(0, TemplateOps.AsLong(indentArg))),
        };
        var (itemSep, keySep) = (indent is null ? ", " : ",", ": ");
        if (args.Get(2, "separators") is { } seps)
        {
            var parts = TemplateOps.ToList(seps);
            (itemSep, keySep) = (TemplateOps.ToStr(parts[0]), TemplateOps.ToStr(parts[1]));
        }

        var sortKeys = TemplateOps.IsTrue(args.Get(3, "sort_keys", false));
        var sb = new StringBuilder();
        Write(sb, value, new Options(indent, itemSep, keySep, ensureAscii, sortKeys), 0);
        return sb.ToString();
    }

    private sealed record Options(string? Indent, string ItemSeparator, string KeySeparator, bool EnsureAscii, bool SortKeys);

    private static void Write(StringBuilder sb, object? v, Options o, int depth)
    {
        switch (v)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : TemplateOps.FormatFloat(d));
                break;
            case string s:
                WriteString(sb, s, o.EnsureAscii);
                break;
            case List<object?> or TemplateTuple:
                var items = TemplateOps.ToList(v);
                WriteContainer(sb, '[', ']', items.Count, o, depth, i => Write(sb, items[i], o, depth + 1));
                break;
            case TemplateDict dict:
                var pairs = dict.ToList();
                if (o.SortKeys)
                {
                    pairs = [.. pairs.OrderBy(p => KeyText(p.Key), StringComparer.Ordinal)];
                }

                WriteContainer(sb, '{', '}', pairs.Count, o, depth, i =>
                {
                    WriteString(sb, KeyText(pairs[i].Key), o.EnsureAscii);
                    sb.Append(o.KeySeparator);
                    Write(sb, pairs[i].Value, o, depth + 1);
                });
                break;
            default:
                throw new TemplateRuntimeException($"Object of type {TemplateOps.TypeName(v)} is not JSON serializable");
        }
    }

    private static string KeyText(object key) => key switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long or double => TemplateOps.ToStr(key),
        _ => throw new TemplateRuntimeException($"keys must be str, int, float, bool or None, not {TemplateOps.TypeName(key)}"),
    };

    private static void WriteContainer(StringBuilder sb, char open, char close, int count, Options o, int depth, Action<int> writeItem)
    {
        sb.Append(open);
        if (count == 0)
        {
            sb.Append(close);
            return;
        }

        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                sb.Append(o.ItemSeparator);
            }

            if (o.Indent is not null)
            {
                sb.Append('\n').Insert(sb.Length, o.Indent, depth + 1);
            }

            writeItem(i);
        }

        if (o.Indent is not null)
        {
            sb.Append('\n').Insert(sb.Length, o.Indent, depth);
        }

        sb.Append(close);
    }

    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7f))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}

/// <summary>Python's <c>'%s' % value</c> formatting for the conversions templates use: s, r, d, i, f, %.</summary>
internal static class PercentFormat
{
    public static string Format(string format, object? values)
    {
        var args = values is TemplateTuple t ? t.Items : [values];
        var sb = new StringBuilder();
        var next = 0;
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                sb.Append(format[i]);
                continue;
            }

            var j = i + 1;
            var flags = "";
            while (j < format.Length && format[j] is '-' or '0' or '+' or ' ')
            {
                flags += format[j++];
            }

            var width = ReadNumber(format, ref j);
            int? precision = null;
            if (j < format.Length && format[j] == '.')
            {
                j++;
                precision = ReadNumber(format, ref j) ?? 0;
            }

            if (j >= format.Length)
            {
                throw new TemplateRuntimeException("incomplete format");
            }

            var conv = format[j];
            i = j;
            if (conv == '%')
            {
                sb.Append('%');
                continue;
            }

            if (next >= args.Length)
            {
                throw new TemplateRuntimeException("not enough arguments for format string");
            }

            var arg = args[next++];
            var text = conv switch
            {
                's' => TemplateOps.ToStr(arg),
                'r' => TemplateOps.Repr(arg),
                'd' or 'i' => ((long)Math.Truncate(TemplateOps.AsDouble(arg))).ToString(CultureInfo.InvariantCulture),
                'f' or 'F' => TemplateOps.AsDouble(arg).ToString("F" + (precision ?? 6).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
                _ => throw new TemplateRuntimeException($"unsupported format character '{conv}'"),
            };
            if (conv == 's' && precision is { } p && p < text.Length)
            {
                text = text[..p];
            }

            if (width is { } w && text.Length < w)
            {
                var numeric = conv is 'd' or 'i' or 'f' or 'F';
                text = flags.Contains('-', StringComparison.Ordinal) ? text.PadRight(w)
                    : flags.Contains('0', StringComparison.Ordinal) && numeric ? PadZeros(text, w)
                    : text.PadLeft(w);
            }

            sb.Append(text);
        }

        if (next < args.Length)
        {
            throw new TemplateRuntimeException("not all arguments converted during string formatting");
        }

        return sb.ToString();
    }

    private static string PadZeros(string text, int width) =>
        text.StartsWith('-') ? "-" + text[1..].PadLeft(width - 1, '0') : text.PadLeft(width, '0');

    private static int? ReadNumber(string s, ref int j)
    {
        var start = j;
        while (j < s.Length && char.IsDigit(s[j]))
        {
            j++;
        }

        return j > start ? int.Parse(s.AsSpan(start, j - start), CultureInfo.InvariantCulture) : null;
    }
}

/// <summary>Python's <c>datetime.strftime</c> for the C-locale directives; templates use it through <c>strftime_now</c>.</summary>
internal static class Strftime
{
    public static string Format(DateTimeOffset t, string format)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }

            var c = format[++i];
            sb.Append(c switch
            {
                'Y' => t.Year.ToString("0000", inv),
                'y' => (t.Year % 100).ToString("00", inv),
                'm' => t.Month.ToString("00", inv),
                'd' => t.Day.ToString("00", inv),
                'e' => t.Day.ToString(inv).PadLeft(2),
                'H' => t.Hour.ToString("00", inv),
                'I' => ((t.Hour + 11) % 12 + 1).ToString("00", inv),
                'M' => t.Minute.ToString("00", inv),
                'S' => t.Second.ToString("00", inv),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'B' => inv.DateTimeFormat.GetMonthName(t.Month),
                'b' or 'h' => inv.DateTimeFormat.GetAbbreviatedMonthName(t.Month),
                'A' => inv.DateTimeFormat.GetDayName(t.DayOfWeek),
                'a' => inv.DateTimeFormat.GetAbbreviatedDayName(t.DayOfWeek),
                'j' => t.DayOfYear.ToString("000", inv),
                'w' => ((int)t.DayOfWeek).ToString(inv),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", inv),
                'z' => (t.Offset < TimeSpan.Zero ? "-" : "+") + t.Offset.Duration().ToString("hhmm", inv),
                'F' => t.ToString("yyyy-MM-dd", inv),
                'T' => t.ToString("HH:mm:ss", inv),
                '%' => "%",
                _ => "%" + c,
            });
        }

        return sb.ToString();
    }
}
