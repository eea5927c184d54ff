using System.Globalization;
using System.Text;

namespace EdgeLlm.Runtime.ChatTemplates;

// Template values follow Python's data model, because chat templates are written against Jinja on Python:
// null = None, bool, long = int, double = float, string = str, List<object?> = list, TemplateTuple = tuple,
// TemplateDict = dict (insertion-ordered), Undefined = jinja2.Undefined, plus namespaces, loops and callables.

/// <summary>Jinja's default Undefined: prints as "", is falsy and iterates as empty; using it in arithmetic or
/// reading an attribute from it is an error carrying <see cref="Hint"/>.</summary>
internal sealed class Undefined(string hint)
{
    public string Hint { get; } = hint;

    public static Undefined Named(string name) => new($"'{name}' is undefined");
}

internal sealed class TemplateTuple(object?[] items)
{
    public object?[] Items { get; } = items;
}

internal sealed class TemplateDict : OrderedDictionary<object, object?>
{
    public TemplateDict()
        : base(KeyComparer.Instance)
    {
    }

    /// <summary>Python dict keys: 1, 1.0 and True are the same key; strings compare ordinally.</summary>
    private sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();

        public new bool Equals(object? x, object? y) => TemplateOps.AreEqual(x, y);

        public int GetHashCode(object obj) => obj switch
        {
            bool b => b ? 1 : 0,
            long l => l.GetHashCode(),
            double d when d == Math.Floor(d) && Math.Abs(d) < 9e18 => ((long)d).GetHashCode(),
            string s => StringComparer.Ordinal.GetHashCode(s),
            _ => obj.GetHashCode(),
        };
    }
}

/// <summary>The object <c>namespace(...)</c> returns: attributes that <c>set ns.x = ...</c> can change from inside loops.</summary>
internal sealed class TemplateNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>Arguments of a call: positional, then keyword. Treated as read-only once built (<see cref="Empty"/> is shared).</summary>
internal sealed class CallArguments(List<object?> positional, Dictionary<string, object?> named)
{
    public static readonly CallArguments Empty = new([], []);

    public List<object?> Positional { get; } = positional;

    public Dictionary<string, object?> Named { get; } = named;

    public object? Get(int index, string name, object? fallback = null)
    {
        if (index < Positional.Count)
        {
            return Positional[index];
        }

        return Named.TryGetValue(name, out var v) ? v : fallback;
    }

    public bool Has(int index, string name) => index < Positional.Count || Named.ContainsKey(name);
}

/// <summary>Anything a template can call: macros, globals such as <c>range</c>, bound methods like <c>'x'.strip</c>.</summary>
internal sealed class TemplateCallable(string name, Func<CallArguments, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(CallArguments args) => invoke(args);
}

/// <summary>A problem found while rendering; the renderer adds the template name and line.
/// <see cref="RaisedByTemplate"/> marks the template's own <c>raise_exception(message)</c>.</summary>
internal sealed class TemplateRuntimeException(string message, bool raisedByTemplate = false) : Exception(message)
{
    public bool RaisedByTemplate { get; } = raisedByTemplate;
}

/// <summary>Python semantics for the operations templates perform on values.</summary>
internal static class TemplateOps
{
    public static bool IsTrue(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        TemplateTuple t => t.Items.Length > 0,
        TemplateDict d => d.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static bool IsInteger(object? v) => v is long or bool;

    public static long AsLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateRuntimeException($"expected an integer, got {TypeName(v)}"),
    };

    public static double AsDouble(object? v) => v switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        Undefined u => throw new TemplateRuntimeException(u.Hint),
        _ => throw new TemplateRuntimeException($"expected a number, got {TypeName(v)}"),
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        TemplateTuple => "tuple",
        TemplateDict => "dict",
        TemplateNamespace => "Namespace",
        LoopContext => "LoopContext",
        TemplateCallable => "function",
        _ => v.GetType().Name,
    };

    public static bool AreEqual(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return IsInteger(a) && IsInteger(b) ? AsLong(a) == AsLong(b) : AsDouble(a) == AsDouble(b);
        }

        return (a, b) switch
        {
            (null, null) => true,
            (Undefined, Undefined) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => SequenceEqual(x, y),
            (TemplateTuple x, TemplateTuple y) => SequenceEqual(x.Items, y.Items),
            (TemplateDict x, TemplateDict y) => x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && AreEqual(kv.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    private static bool SequenceEqual(IReadOnlyList<object?> x, IReadOnlyList<object?> y)
    {
        if (x.Count != y.Count)
        {
            return false;
        }

        for (var i = 0; i < x.Count; i++)
        {
            if (!AreEqual(x[i], y[i]))
            {
                return false;
            }
        }

        return true;
    }

    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return IsInteger(a) && IsInteger(b) ? AsLong(a).CompareTo(AsLong(b)) : AsDouble(a).CompareTo(AsDouble(b));
        }

        if (a is string x && b is string y)
        {
            return string.CompareOrdinal(x, y);
        }

        if (AsSequence(a) is { } xs && AsSequence(b) is { } ys && a?.GetType() == b?.GetType())
        {
            for (var i = 0; i < Math.Min(xs.Count, ys.Count); i++)
            {
                if (!AreEqual(xs[i], ys[i]))
                {
                    return Compare(xs[i], ys[i]);
                }
            }

            return xs.Count.CompareTo(ys.Count);
        }

        if (a is Undefined ua)
        {
            throw new TemplateRuntimeException(ua.Hint);
        }

        if (b is Undefined ub)
        {
            throw new TemplateRuntimeException(ub.Hint);
        }

        throw new TemplateRuntimeException($"'<' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static IReadOnlyList<object?>? AsSequence(object? v) => v switch
    {
        List<object?> l => l,
        TemplateTuple t => t.Items,
        _ => null,
    };

    /// <summary>Iterates like Python's <c>iter()</c>: dicts give keys, strings give characters, Undefined gives nothing.</summary>
    public static IReadOnlyList<object?> ToList(object? v) => v switch
    {
        List<object?> l => l,
        TemplateTuple t => t.Items,
        TemplateDict d => [.. d.Keys],
        string s => SplitCharacters(s),
        Undefined => [],
        _ => throw new TemplateRuntimeException($"'{TypeName(v)}' object is not iterable"),
    };

    public static bool IsIterable(object? v) => v is List<object?> or TemplateTuple or TemplateDict or string or Undefined;

    /// <summary>Splits into code points, as Python strings index by code point rather than UTF-16 unit.</summary>
    public static List<object?> SplitCharacters(string s)
    {
        var result = new List<object?>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                result.Add(s.Substring(i, 2));
                i++;
            }
            else
            {
                result.Add(s[i].ToString());
            }
        }

        return result;
    }

    public static int Length(object? v) => v switch
    {
        string s => CodePointLength(s),
        List<object?> l => l.Count,
        TemplateTuple t => t.Items.Length,
        TemplateDict d => d.Count,
        Undefined => 0,
        _ => throw new TemplateRuntimeException($"object of type '{TypeName(v)}' has no len()"),
    };

    public static int CodePointLength(string s)
    {
        var n = s.Length;
        for (var i = 0; i + 1 < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1]))
            {
                n--;
                i++;
            }
        }

        return n;
    }

    public static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string x => s.Contains(x, StringComparison.Ordinal),
        string => throw new TemplateRuntimeException($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        TemplateDict d => item is not null && d.ContainsKey(item),
        _ => ToList(container).Any(x => AreEqual(x, item)),
    };

    /// <summary>Python's <c>str()</c>, which is what <c>{{ }}</c> prints.</summary>
    public static string ToStr(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    /// <summary>Python's <c>repr()</c>, used for values inside printed lists and dicts.</summary>
    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v)
    {
        switch (v)
        {
            case null:
                sb.Append("None");
                break;
            case Undefined:
                break;
            case bool b:
                sb.Append(b ? "True" : "False");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                sb.Append(FormatFloat(d));
                break;
            case string s:
                AppendStringRepr(sb, s);
                break;
            case List<object?> list:
                sb.Append('[');
                AppendItems(sb, list);
                sb.Append(']');
                break;
            case TemplateTuple t:
                sb.Append('(');
                AppendItems(sb, t.Items);
                sb.Append(t.Items.Length == 1 ? ",)" : ")");
                break;
            case TemplateDict d:
                sb.Append('{');
                var first = true;
                foreach (var (key, value) in d)
                {
                    sb.Append(first ? "" : ", ");
                    first = false;
                    AppendRepr(sb, key);
                    sb.Append(": ");
                    AppendRepr(sb, value);
                }

                sb.Append('}');
                break;
            case TemplateNamespace ns:
                sb.Append("<Namespace ").Append(string.Join(", ", ns.Attributes.Select(kv => kv.Key + "=" + Repr(kv.Value)))).Append('>');
                break;
            default:
                sb.Append('<').Append(TypeName(v)).Append('>');
                break;
        }
    }

    private static void AppendItems(StringBuilder sb, IReadOnlyList<object?> items)
    {
        for (var i = 0; i < items.Count; i++)
        {
            sb.Append(i == 0 ? "" : ", ");
            AppendRepr(sb, items[i]);
        }
    }

    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        var quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
        sb.Append(quote);
        var i = 0;
        while (i < s.Length)
        {
            // An unpaired surrogate is a code point of its own in Python; Rune decoding would replace it.
            var status = Rune.DecodeFromUtf16(s.AsSpan(i), out var rune, out var used);
            var code = status == System.Buffers.OperationStatus.Done ? rune.Value : s[i];
            used = status == System.Buffers.OperationStatus.Done ? used : 1;
            switch (code)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (code == quote)
                    {
                        sb.Append('\\').Append(quote);
                    }
                    else if (IsPrintable(code, status == System.Buffers.OperationStatus.Done))
                    {
                        sb.Append(s, i, used);
                    }
                    else
                    {
                        sb.Append(code < 0x100 ? $"\\x{code:x2}" : code < 0x10000 ? $"\\u{code:x4}" : $"\\U{code:x8}");
                    }

                    break;
            }

            i += used;
        }

        sb.Append(quote);
    }

    // Python's str.isprintable: everything but control, format, surrogate, private-use, unassigned and separator characters (space excepted).
    private static bool IsPrintable(int code, bool valid)
    {
        if (code == ' ')
        {
            return true;
        }

        if (!valid)
        {
            return false;
        }

        return Rune.GetUnicodeCategory(new Rune(code)) is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);
    }

    /// <summary>Python's float repr: the shortest round-tripping digits, scientific below 1e-4 and from 1e16.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        if (d == 0)
        {
            return double.IsNegative(d) ? "-0.0" : "0.0";
        }

        var shortest = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        var (digits, exponent) = Decompose(shortest);
        var sign = d < 0 ? "-" : "";
        if (exponent < -4 || exponent >= 16)
        {
            var mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            return $"{sign}{mantissa}e{(exponent < 0 ? "-" : "+")}{Math.Abs(exponent):00}";
        }

        string body;
        if (exponent < 0)
        {
            body = "0." + new string('0', -exponent - 1) + digits;
        }
        else if (digits.Length <= exponent + 1)
        {
            body = digits + new string('0', exponent + 1 - digits.Length) + ".0";
        }
        else
        {
            body = digits[..(exponent + 1)] + "." + digits[(exponent + 1)..];
        }

        return sign + body;
    }

    // Splits .NET's shortest round-trip text ("1.5E-07", "123.25") into significant digits and the decimal exponent of the first digit.
    private static (string Digits, int Exponent) Decompose(string text)
    {
        var exp = 0;
        var e = text.IndexOf('E', StringComparison.Ordinal);
        if (e >= 0)
        {
            exp = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }

        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var intPart = dot >= 0 ? text[..dot] : text;
        var frac = dot >= 0 ? text[(dot + 1)..] : "";
        var all = intPart + frac;
        var lead = 0;
        while (lead < all.Length - 1 && all[lead] == '0')
        {
            lead++;
        }

        var digits = all[lead..].TrimEnd('0');
        if (digits.Length == 0)
        {
            digits = "0";
        }

        return (digits, exp + intPart.Length - 1 - lead);
    }

    /// <summary>Python's <c>str.isspace</c> per character (wider than .NET's: includes the separators U+001C–U+001F).</summary>
    /// <summary>Python's <c>str.upper</c>, whose full case mapping turns ß into SS where .NET keeps it.</summary>
    public static string Upper(string s) => s.ToUpperInvariant().Replace("ß", "SS", StringComparison.Ordinal);

    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    public static string StripChars(string s, string? chars, bool left, bool right)
    {
        var start = 0;
        var end = s.Length;
        bool Strip(char c) => chars is null ? IsSpace(c) : chars.Contains(c, StringComparison.Ordinal);
        while (left && start < end && Strip(s[start]))
        {
            start++;
        }

        while (right && end > start && Strip(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }
}
