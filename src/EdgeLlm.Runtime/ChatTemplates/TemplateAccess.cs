using System.Globalization;
using System.Text;

namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>
/// Attribute access, subscripts, slices and the Python methods templates call on strings, dicts and lists.
/// Like Jinja, <c>x.name</c> prefers a method and falls back to a key; <c>x['name']</c> prefers the key.
/// </summary>
internal static class TemplateAccess
{
    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case Undefined u:
                throw new TemplateRuntimeException(u.Hint);
            case TemplateDict d:
                return (object?)Method(d, name) ?? (d.TryGetValue(name, out var v) ? v : new Undefined($"'dict object' has no attribute '{name}'"));
            case TemplateNamespace ns:
                return ns.Attributes.TryGetValue(name, out var a) ? a : new Undefined($"'Namespace' object has no attribute '{name}'");
            case LoopContext loop:
                return loop.Get(name);
            default:
                return (object?)Method(target, name) ?? new Undefined($"'{TemplateOps.TypeName(target)} object' has no attribute '{name}'");
        }
    }

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined u:
                throw new TemplateRuntimeException(u.Hint);
            case TemplateDict d:
                if (key is not null && d.TryGetValue(key, out var v))
                {
                    return v;
                }

                return key is string s && Method(d, s) is { } m ? m : new Undefined($"'dict object' has no attribute {TemplateOps.Repr(key)}");
            case List<object?> or TemplateTuple or string when TemplateOps.IsInteger(key):
                var items = target is string str ? TemplateOps.SplitCharacters(str) : TemplateOps.ToList(target);
                var i = TemplateOps.AsLong(key);
                if (i < 0)
                {
                    i += items.Count;
                }

                return i >= 0 && i < items.Count ? items[(int)i] : new Undefined($"{TemplateOps.TypeName(target)} index out of range");
            default:
                return key is string name ? GetAttribute(target, name) : new Undefined($"'{TemplateOps.TypeName(target)} object' has no attribute {TemplateOps.Repr(key)}");
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined u)
        {
            throw new TemplateRuntimeException(u.Hint);
        }

        var items = target switch
        {
            string s => TemplateOps.SplitCharacters(s),
            List<object?> or TemplateTuple => TemplateOps.ToList(target),
            _ => throw new TemplateRuntimeException($"'{TemplateOps.TypeName(target)}' object is not subscriptable"),
        };
        var n = items.Count;
        var st = step is null ? 1 : TemplateOps.AsLong(step);
        if (st == 0)
        {
            throw new TemplateRuntimeException("slice step cannot be zero");
        }

        long Clamp(object? v, long whenMissing)
        {
            if (v is null)
            {
                return whenMissing;
            }

            var x = TemplateOps.AsLong(v);
            if (x < 0)
            {
                x += n;
            }

            return st > 0 ? Math.Clamp(x, 0, n) : Math.Clamp(x, -1, n - 1);
        }

        var from = Clamp(start, st > 0 ? 0 : n - 1);
        var to = Clamp(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (var i = from; st > 0 ? i < to : i > to; i += st)
        {
            result.Add(items[(int)i]);
        }

        return target switch
        {
            string => string.Concat(result.Cast<string>()),
            TemplateTuple => new TemplateTuple([.. result]),
            _ => result,
        };
    }

    private static TemplateCallable? Method(object? target, string name) => target switch
    {
        string s => StringMethod(s, name),
        TemplateDict d => DictMethod(d, name),
        List<object?> l => ListMethod(l, name),
        _ => null,
    };

    private static TemplateCallable? StringMethod(string s, string name)
    {
        string? Chars(CallArguments a) => a.Get(0, "chars") is string c ? c : null;
        Func<CallArguments, object?>? f = name switch
        {
            "strip" => a => TemplateOps.StripChars(s, Chars(a), left: true, right: true),
            "lstrip" => a => TemplateOps.StripChars(s, Chars(a), left: true, right: false),
            "rstrip" => a => TemplateOps.StripChars(s, Chars(a), left: false, right: true),
            "split" => a => Split(s, a.Get(0, "sep") as string, a.Has(1, "maxsplit") ? (int)TemplateOps.AsLong(a.Get(1, "maxsplit")) : -1, fromRight: false),
            "rsplit" => a => Split(s, a.Get(0, "sep") as string, a.Has(1, "maxsplit") ? (int)TemplateOps.AsLong(a.Get(1, "maxsplit")) : -1, fromRight: true),
            "startswith" => a => Affixes(a.Get(0, "prefix")).Any(p => s.StartsWith(p, StringComparison.Ordinal)),
            "endswith" => a => Affixes(a.Get(0, "suffix")).Any(p => s.EndsWith(p, StringComparison.Ordinal)),
            "upper" => _ => TemplateOps.Upper(s),
            "lower" => _ => s.ToLowerInvariant(),
            "title" => _ => Title(s),
            "capitalize" => _ => Capitalize(s),
            "replace" => a => Replace(s, Text(a.Get(0, "old")), Text(a.Get(1, "new")), a.Has(2, "count") ? TemplateOps.AsLong(a.Get(2, "count")) : -1),
            "join" => a => string.Join(s, TemplateOps.ToList(a.Get(0, "iterable")).Select(Text)),
            "find" => a => (long)s.IndexOf(Text(a.Get(0, "sub")), StringComparison.Ordinal),
            "count" => a => (long)CountOccurrences(s, Text(a.Get(0, "sub"))),
            "isdigit" => _ => s.Length > 0 && s.All(char.IsDigit),
            "isalpha" => _ => s.Length > 0 && s.All(char.IsLetter),
            "isspace" => _ => s.Length > 0 && s.All(TemplateOps.IsSpace),
            "format" => a => FormatBraces(s, a),
            _ => null,
        };
        return f is null ? null : new TemplateCallable("str." + name, f);
    }

    private static TemplateCallable? DictMethod(TemplateDict d, string name)
    {
        Func<CallArguments, object?>? f = name switch
        {
            "items" => _ => d.Select(kv => (object?)new TemplateTuple([kv.Key, kv.Value])).ToList(),
            "keys" => _ => d.Keys.Cast<object?>().ToList(),
            "values" => _ => d.Values.ToList(),
            "get" => a => a.Get(0, "key") is { } k && d.TryGetValue(k, out var v) ? v : a.Get(1, "default"),
            _ => null,
        };
        return f is null ? null : new TemplateCallable("dict." + name, f);
    }

    private static TemplateCallable? ListMethod(List<object?> l, string name)
    {
        Func<CallArguments, object?>? f = name switch
        {
            "append" => a =>
            {
                l.Add(a.Get(0, "object"));
                return null;
            },
            "index" => a => (long)l.FindIndex(x => TemplateOps.AreEqual(x, a.Get(0, "value"))),
            "count" => a => (long)l.Count(x => TemplateOps.AreEqual(x, a.Get(0, "value"))),
            _ => null,
        };
        return f is null ? null : new TemplateCallable("list." + name, f);
    }

    private static string Text(object? v) => v is string s ? s : throw new TemplateRuntimeException($"expected a string, got {TemplateOps.TypeName(v)}");

    private static IEnumerable<string> Affixes(object? v) => v switch
    {
        string s => [s],
        TemplateTuple t => t.Items.Select(Text),
        _ => throw new TemplateRuntimeException($"startswith/endswith take a string or a tuple of strings, not {TemplateOps.TypeName(v)}"),
    };

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0)
        {
            return TemplateOps.CodePointLength(s) + 1;
        }

        var n = 0;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0)
        {
            return old.Length == 0 ? Replace(s, old, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        }

        var sb = new StringBuilder();
        var pos = 0;
        for (var done = 0L; done < count; done++)
        {
            var at = old.Length == 0 ? (pos <= s.Length ? pos : -1) : s.IndexOf(old, pos, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }

            sb.Append(s, pos, at - pos).Append(replacement);
            if (old.Length == 0)
            {
                if (at < s.Length)
                {
                    sb.Append(s[at]);
                }

                pos = at + 1;
            }
            else
            {
                pos = at + old.Length;
            }
        }

        if (pos < s.Length)
        {
            sb.Append(s, pos, s.Length - pos);
        }

        return sb.ToString();
    }

    // Python's str.split: without a separator, runs of whitespace split and ends are trimmed.
    public static List<object?> Split(string s, string? sep, int maxSplit, bool fromRight)
    {
        var parts = new List<string>();
        if (sep is null)
        {
            var words = new List<(int Start, int End)>();
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && TemplateOps.IsSpace(s[i]))
                {
                    i++;
                }

                var start = i;
                while (i < s.Length && !TemplateOps.IsSpace(s[i]))
                {
                    i++;
                }

                if (i > start)
                {
                    words.Add((start, i));
                }
            }

            if (maxSplit < 0 || words.Count <= maxSplit + 1)
            {
                return words.Select(w => (object?)s[w.Start..w.End]).ToList();
            }

            var result = new List<object?>();
            if (fromRight)
            {
                var keep = words.Skip(words.Count - maxSplit).Select(w => (object?)s[w.Start..w.End]);
                result.Add(TemplateOps.StripChars(s[..words[words.Count - maxSplit - 1].End], null, true, false));
                result.AddRange(keep);
            }
            else
            {
                result.AddRange(words.Take(maxSplit).Select(w => (object?)s[w.Start..w.End]));
                result.Add(TemplateOps.StripChars(s[words[maxSplit].Start..], null, false, true));
            }

            return result;
        }

        if (sep.Length == 0)
        {
            throw new TemplateRuntimeException("empty separator");
        }

        var all = s.Split(sep);
        if (maxSplit < 0 || all.Length <= maxSplit + 1)
        {
            return all.Cast<object?>().ToList();
        }

        return fromRight
            ? [string.Join(sep, all[..^maxSplit]), .. all[^maxSplit..]]
            : [.. all[..maxSplit], string.Join(sep, all[maxSplit..])];
    }

    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }

        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string FormatBraces(string format, CallArguments args)
    {
        var sb = new StringBuilder();
        var auto = 0;
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c == '{' && i + 1 < format.Length && format[i + 1] == '{')
            {
                sb.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < format.Length && format[i + 1] == '}')
            {
                sb.Append('}');
                i++;
            }
            else if (c == '{')
            {
                var close = format.IndexOf('}', i);
                if (close < 0)
                {
                    throw new TemplateRuntimeException("Single '{' encountered in format string");
                }

                var field = format[(i + 1)..close];
                object? value = field.Length == 0 ? args.Positional.ElementAtOrDefault(auto++)
                    : int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var at) ? args.Positional.ElementAtOrDefault(at)
                    : args.Named.GetValueOrDefault(field);
                sb.Append(TemplateOps.ToStr(value));
                i = close;
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
