using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>
/// A <c>{"Regex": …}</c> or <c>{"String": …}</c> pattern from tokenizer.json, compiled once.
/// Hugging Face evaluates these with Oniguruma over Unicode code points; .NET's engine works on UTF-16
/// code units, so text holding characters outside the BMP is matched through a proxy string in which
/// each such character is one BMP character of the same general category.
/// </summary>
internal sealed class TokenPattern
{
    private readonly Regex regex;

    private TokenPattern(Regex regex) => this.regex = regex;

    public static TokenPattern Parse(JsonElement e, JsonFieldReader reader, string field)
    {
        reader.RequireKind(e, field, JsonValueKind.Object);
        if (e.TryGetProperty("String", out var literal) && literal.ValueKind == JsonValueKind.String)
        {
            return new TokenPattern(new Regex(Regex.Escape(literal.GetString()!), RegexOptions.CultureInvariant));
        }

        if (e.TryGetProperty("Regex", out var pattern) && pattern.ValueKind == JsonValueKind.String)
        {
            var source = pattern.GetString()!;
            try
            {
                return new TokenPattern(new Regex(Translate(source), RegexOptions.CultureInvariant | RegexOptions.Compiled));
            }
            catch (ArgumentException ex)
            {
                throw reader.Fail(field + ".Regex", $"'{source}' is not a regular expression this runtime supports: {ex.Message}");
            }
        }

        throw reader.Fail(field, "expected {\"String\": …} or {\"Regex\": …}");
    }

    /// <summary>A pattern for a fixed, trusted regex written in .NET syntax (GPT-2's pre-tokenizer split).</summary>
    public static TokenPattern FromTrustedRegex(string source) =>
        new(new Regex(Translate(source), RegexOptions.CultureInvariant | RegexOptions.Compiled));

    /// <summary>Appends the (start, length) of every non-empty match in <paramref name="text"/>.</summary>
    public void Matches(string text, List<(int Start, int Length)> into)
    {
        if (!HasSurrogates(text))
        {
            foreach (var m in regex.EnumerateMatches(text))
            {
                if (m.Length > 0)
                {
                    into.Add((m.Index, m.Length));
                }
            }

            return;
        }

        var proxy = new char[text.Length];
        var origin = new int[text.Length + 1];
        var n = 0;
        for (var i = 0; i < text.Length;)
        {
            origin[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                proxy[n++] = Representative(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1])));
                i += 2;
            }
            else
            {
                proxy[n++] = text[i++];
            }
        }

        origin[n] = text.Length;
        foreach (var m in regex.EnumerateMatches(proxy.AsSpan(0, n)))
        {
            if (m.Length > 0)
            {
                var start = origin[m.Index];
                into.Add((start, origin[m.Index + m.Length] - start));
            }
        }
    }

    public string Replace(string text, string replacement)
    {
        var matches = new List<(int Start, int Length)>();
        Matches(text, matches);
        if (matches.Count == 0)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + (matches.Count * replacement.Length));
        var at = 0;
        foreach (var (start, length) in matches)
        {
            sb.Append(text, at, start - at).Append(replacement);
            at = start + length;
        }

        return sb.Append(text, at, text.Length - at).ToString();
    }

    private static bool HasSurrogates(string text)
    {
        foreach (var c in text)
        {
            if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    private static char Representative(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u00C0',
        UnicodeCategory.LowercaseLetter => '\u00E0',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u05D0',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00A1',
        UnicodeCategory.MathSymbol => '\u00AC',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u00B4',
        UnicodeCategory.OtherSymbol => '\u00A6',
        _ => '\u0378', // unassigned
    };

    /// <summary>
    /// Rewrites Oniguruma syntax .NET reads differently: <c>(?i:…)</c> folds ASCII letters only (as
    /// Oniguruma does for these patterns), and possessive quantifiers lose their extra <c>+</c>.
    /// <c>\s</c>, <c>\p{…}</c> and lookarounds mean the same in both.
    /// </summary>
    private static string Translate(string source)
    {
        var sb = new StringBuilder(source.Length + 16);
        var groups = new Stack<bool>();
        var fold = false;
        var inClass = false;
        var afterQuantifier = false;
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            if (c == '\\' && i + 1 < source.Length)
            {
                var end = i + 2;
                if ((source[i + 1] is 'p' or 'P' or 'x') && end < source.Length && source[end] == '{')
                {
                    end = source.IndexOf('}', end) + 1;
                    if (end == 0)
                    {
                        end = source.Length;
                    }
                }

                sb.Append(source, i, end - i);
                i = end - 1;
                afterQuantifier = false;
                continue;
            }

            if (inClass)
            {
                if (c == ']')
                {
                    inClass = false;
                }

                sb.Append(c);
                if (fold && char.IsAsciiLetter(c))
                {
                    sb.Append(char.IsAsciiLetterLower(c) ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
                }

                continue;
            }

            switch (c)
            {
                case '[':
                    inClass = true;
                    sb.Append(c);
                    if (i + 1 < source.Length && source[i + 1] == '^')
                    {
                        sb.Append('^');
                        i++;
                    }

                    if (i + 1 < source.Length && source[i + 1] == ']')
                    {
                        sb.Append("\\]");
                        i++;
                    }

                    afterQuantifier = false;
                    break;
                case '(':
                    groups.Push(fold);
                    if (string.CompareOrdinal(source, i, "(?i:", 0, 4) == 0)
                    {
                        sb.Append("(?:");
                        i += 3;
                        fold = true;
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    afterQuantifier = false;
                    break;
                case ')':
                    fold = groups.Count > 0 && groups.Pop();
                    sb.Append(c);
                    afterQuantifier = false;
                    break;
                case '+' when afterQuantifier:
                    afterQuantifier = false;
                    break;
                case '*' or '+' or '?':
                    sb.Append(c);
                    afterQuantifier = c != '?' || !(i > 0 && source[i - 1] == '(');
                    break;
                case '}':
                    sb.Append(c);
                    afterQuantifier = true;
                    break;
                default:
                    if (fold && char.IsAsciiLetter(c))
                    {
                        sb.Append('[').Append(char.ToLowerInvariant(c)).Append(char.ToUpperInvariant(c)).Append(']');
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    afterQuantifier = false;
                    break;
            }
        }

        return sb.ToString();
    }
}
