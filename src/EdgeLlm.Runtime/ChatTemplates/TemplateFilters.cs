using System.Globalization;
using System.Text;

namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>Jinja's built-in filters that chat templates use, plus Hugging Face's <c>tojson</c>.</summary>
internal static class TemplateFilters
{
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal)
    {
        "trim", "tojson", "length", "count", "upper", "lower", "default", "d", "join", "items", "list", "first", "last",
        "reverse", "replace", "string", "int", "float", "abs", "round", "selectattr", "rejectattr", "map", "select",
        "reject", "unique", "capitalize", "title", "indent", "safe", "escape", "e", "batch", "sort", "dictsort",
        "max", "min", "sum", "center", "wordcount", "format",
    };

    public static object? Apply(string name, object? value, CallArguments args)
    {
        switch (name)
        {
            case "trim":
                return TemplateOps.StripChars(TemplateOps.ToStr(value), args.Get(0, "chars") as string, left: true, right: true);
            case "tojson":
                return TemplateJson.Serialize(value, args);
            case "length" or "count":
                return (long)TemplateOps.Length(value);
            case "upper":
                return TemplateOps.Upper(TemplateOps.ToStr(value));
            case "lower":
                return TemplateOps.ToStr(value).ToLowerInvariant();
            case "capitalize":
                return TemplateAccess.Capitalize(TemplateOps.ToStr(value));
            case "title":
                return TemplateAccess.Title(TemplateOps.ToStr(value));
            case "default" or "d":
                var useDefault = value is Undefined || (TemplateOps.IsTrue(args.Get(1, "boolean", false)) && !TemplateOps.IsTrue(value));
                return useDefault ? args.Get(0, "default_value", "") : value;
            case "join":
                return Join(value, args);
            case "items":
                return value is Undefined ? new List<object?>() : value is TemplateDict d
                    ? d.Select(kv => (object?)new TemplateTuple([kv.Key, kv.Value])).ToList()
                    : throw new TemplateRuntimeException($"can only get item pairs from a mapping, not {TemplateOps.TypeName(value)}");
            case "list":
                return TemplateOps.ToList(value).ToList();
            case "first":
                return TemplateOps.ToList(value) is { Count: > 0 } f ? f[0] : new Undefined("No first item, sequence was empty.");
            case "last":
                return TemplateOps.ToList(value) is { Count: > 0 } l ? l[^1] : new Undefined("No last item, sequence was empty.");
            case "reverse":
                return value is string rs ? string.Concat(TemplateOps.SplitCharacters(rs).Cast<string>().Reverse()) : TemplateOps.ToList(value).Reverse().ToList();
            case "replace":
                return TemplateAccess.Replace(TemplateOps.ToStr(value), TemplateOps.ToStr(args.Get(0, "old")), TemplateOps.ToStr(args.Get(1, "new")),
                    args.Has(2, "count") ? TemplateOps.AsLong(args.Get(2, "count")) : -1);
            case "string":
                return TemplateOps.ToStr(value);
            case "int":
                return ToInt(value, args.Get(0, "default", 0L));
            case "float":
                return ToFloat(value, args.Get(0, "default", 0.0));
            case "abs":
                return value switch
                {
                    long x => (object)Math.Abs(x),
                    double x => Math.Abs(x),
                    bool b => b ? 1L : 0L,
                    _ => throw new TemplateRuntimeException($"bad operand type for abs(): '{TemplateOps.TypeName(value)}'"),
                };
            case "round":
                return Round(value, args);
            case "selectattr" or "rejectattr":
                return SelectAttr(value, args, keep: name == "selectattr");
            case "select" or "reject":
                return Select(value, args, keep: name == "select");
            case "map":
                return Map(value, args);
            case "unique":
                return Unique(value);
            case "indent":
                return Indent(TemplateOps.ToStr(value), args);
            case "safe":
                return value;
            case "escape" or "e":
                return Escape(TemplateOps.ToStr(value));
            case "batch":
                return Batch(value, args);
            case "sort":
                return Sort(TemplateOps.ToList(value), args);
            case "dictsort":
                return value is TemplateDict dd
                    ? dd.OrderBy(kv => kv.Key, Comparer<object>.Create(TemplateOps.Compare)).Select(kv => (object?)new TemplateTuple([kv.Key, kv.Value])).ToList()
                    : throw new TemplateRuntimeException("dictsort needs a mapping");
            case "max" or "min":
                var all = TemplateOps.ToList(value);
                if (all.Count == 0)
                {
                    return new Undefined($"No aggregated item, sequence was empty.");
                }

                var best = all[0];
                foreach (var x in all.Skip(1))
                {
                    var c = TemplateOps.Compare(x, best);
                    best = (name == "max" ? c > 0 : c < 0) ? x : best;
                }

                return best;
            case "sum":
                return TemplateOps.ToList(value).Aggregate(args.Get(1, "start", 0L), (acc, x) => TemplateArithmetic.Binary("+", acc, x));
            case "center":
                var text = TemplateOps.ToStr(value);
                var width = (int)TemplateOps.AsLong(args.Get(0, "width", 80L));
                var pad = Math.Max(0, width - text.Length);
                var leftPad = (pad / 2) + (pad & width & 1);
                return new string(' ', leftPad) + text + new string(' ', pad - leftPad);
            case "format":
                return PercentFormat.Format(TemplateOps.ToStr(value), args.Named.Count > 0 ? args.Named.Aggregate(new TemplateDict(), (d, kv) =>
                {
                    d[kv.Key] = kv.Value;
                    return d;
                }) : new TemplateTuple([.. args.Positional]));
            case "wordcount":
                return (long)TemplateAccess.Split(TemplateOps.ToStr(value), null, -1, fromRight: false).Count;
            default:
                throw new TemplateRuntimeException($"No filter named '{name}'.");
        }
    }

    private static string Join(object? value, CallArguments args)
    {
        var sep = TemplateOps.ToStr(args.Get(0, "d", ""));
        var items = TemplateOps.ToList(value);
        if (args.Get(1, "attribute") is { } attr)
        {
            items = items.Select(i => TemplateAccess.GetItem(i, attr)).ToList();
        }

        return string.Join(sep, items.Select(TemplateOps.ToStr));
    }

    private static object? ToInt(object? value, object? fallback)
    {
        switch (value)
        {
            case long or bool:
                return TemplateOps.AsLong(value);
            case double d:
                return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
                var t = s.Trim().Replace("_", "", StringComparison.Ordinal);
                if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                {
                    return l;
                }

                return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback;
            default:
                return fallback;
        }
    }

    private static object? ToFloat(object? value, object? fallback) => value switch
    {
        double d => d,
        long or bool => TemplateOps.AsDouble(value),
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var f) => f,
        _ => fallback,
    };

    private static object? Round(object? value, CallArguments args)
    {
        var precision = (int)TemplateOps.AsLong(args.Get(0, "precision", 0L));
        var method = TemplateOps.ToStr(args.Get(1, "method", "common"));
        var v = TemplateOps.AsDouble(value);
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "ceil" => (object)(Math.Ceiling(v * scale) / scale),
            "floor" => Math.Floor(v * scale) / scale,
            "common" when value is long or bool && precision >= 0 => TemplateOps.AsLong(value),
            "common" => Math.Round(v, Math.Clamp(precision, 0, 15), MidpointRounding.ToEven),
            _ => throw new TemplateRuntimeException("method must be 'common', 'ceil' or 'floor'"),
        };
    }

    private static List<object?> SelectAttr(object? value, CallArguments args, bool keep)
    {
        var attr = TemplateOps.ToStr(args.Get(0, "attr"));
        var testName = args.Positional.Count > 1 ? TemplateOps.ToStr(args.Positional[1]) : null;
        var testArgs = new CallArguments(args.Positional.Skip(2).ToList(), []);
        return TemplateOps.ToList(value).Where(item =>
        {
            var a = Attribute(item, attr);
            var passes = testName is null ? TemplateOps.IsTrue(a) : TemplateTests.Run(testName, a, testArgs);
            return passes == keep;
        }).ToList();
    }

    private static List<object?> Select(object? value, CallArguments args, bool keep)
    {
        var testName = args.Positional.Count > 0 ? TemplateOps.ToStr(args.Positional[0]) : null;
        var testArgs = new CallArguments(args.Positional.Skip(1).ToList(), []);
        return TemplateOps.ToList(value)
            .Where(item => (testName is null ? TemplateOps.IsTrue(item) : TemplateTests.Run(testName, item, testArgs)) == keep)
            .ToList();
    }

    private static List<object?> Map(object? value, CallArguments args)
    {
        var items = TemplateOps.ToList(value);
        if (args.Named.TryGetValue("attribute", out var attr))
        {
            var hasDefault = args.Named.TryGetValue("default", out var dflt);
            return items.Select(i => Attribute(i, TemplateOps.ToStr(attr)) is var a && a is Undefined && hasDefault ? dflt : a).ToList();
        }

        if (args.Positional.Count == 0)
        {
            throw new TemplateRuntimeException("map needs a filter name or attribute=");
        }

        var filter = TemplateOps.ToStr(args.Positional[0]);
        var rest = new CallArguments(args.Positional.Skip(1).ToList(), args.Named);
        return items.Select(i => Apply(filter, i, rest)).ToList();
    }

    // Jinja's attribute lookup for filters: dotted paths, item lookup first.
    private static object? Attribute(object? item, string path)
    {
        var v = item;
        foreach (var part in path.Split('.'))
        {
            v = int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? TemplateAccess.GetItem(v, (long)i) : TemplateAccess.GetItem(v, part);
        }

        return v;
    }

    private static List<object?> Unique(object? value)
    {
        var result = new List<object?>();
        foreach (var item in TemplateOps.ToList(value))
        {
            var key = item is string s ? s.ToLowerInvariant() : item;
            if (!result.Any(r => TemplateOps.AreEqual(r is string rs ? rs.ToLowerInvariant() : r, key)))
            {
                result.Add(item);
            }
        }

        return result;
    }

    private static string Indent(string s, CallArguments args)
    {
        var width = args.Get(0, "width", 4L);
        var indent = width is string w ? w : new string(' ', (int)TemplateOps.AsLong(width));
        var first = TemplateOps.IsTrue(args.Get(1, "first", false));
        var blank = TemplateOps.IsTrue(args.Get(2, "blank", false));
        var lines = s.Split('\n');
        var sb = new StringBuilder();
        for (var i = 0; i < lines.Length; i++)
        {
            if (i > 0)
            {
                sb.Append('\n');
            }

            var indentThis = (i > 0 || first) && (blank || lines[i].Length > 0);
            sb.Append(indentThis ? indent : "").Append(lines[i]);
        }

        return sb.ToString();
    }

    private static string Escape(string s) => s
        .Replace("&", "&amp;", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal)
        .Replace("\"", "&#34;", StringComparison.Ordinal)
        .Replace("'", "&#39;", StringComparison.Ordinal);

    private static List<object?> Batch(object? value, CallArguments args)
    {
        var size = (int)TemplateOps.AsLong(args.Get(0, "linecount"));
        if (size <= 0)
        {
            throw new TemplateRuntimeException("batch size must be positive");
        }

        var fill = args.Has(1, "fill_with") ? args.Get(1, "fill_with") : null;
        var hasFill = args.Has(1, "fill_with");
        var result = new List<object?>();
        var items = TemplateOps.ToList(value);
        for (var i = 0; i < items.Count; i += size)
        {
            var chunk = items.Skip(i).Take(size).ToList();
            while (hasFill && chunk.Count < size)
            {
                chunk.Add(fill);
            }

            result.Add(chunk);
        }

        return result;
    }

    private static List<object?> Sort(IReadOnlyList<object?> items, CallArguments args)
    {
        var reverse = TemplateOps.IsTrue(args.Get(0, "reverse", false));
        var caseSensitive = TemplateOps.IsTrue(args.Get(1, "case_sensitive", false));
        var attr = args.Get(2, "attribute") as string;
        object? Key(object? x)
        {
            var k = attr is null ? x : Attribute(x, attr);
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        }

        var comparer = Comparer<object?>.Create(TemplateOps.Compare);
        return reverse ? [.. items.OrderByDescending(Key, comparer)] : [.. items.OrderBy(Key, comparer)];
    }
}
