using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;

namespace EdgeLlm.Knowledge.Retrieval;

/// <summary>
/// Turns text into the terms the index stores, the same way for documents and questions, so that what FTS5
/// sees is fully under our control: lowercase words with a light English stem, stop words dropped, and a separate
/// stream of "codes" (part numbers, error codes, G-code commands) with their separators removed so that
/// <c>E-17</c>, <c>e17</c> and <c>E17</c> meet, and <c>SET_VELOCITY_LIMIT</c> stays one token.
/// </summary>
internal static partial class TextAnalyzer
{
    private static readonly SearchValues<string> StopWords = SearchValues.Create(
    [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
        "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
        "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
        "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me",
        "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other",
        "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the",
        "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
        "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
        "will", "with", "would", "you", "your", "yours", "yourself", "also", "may", "might", "must", "shall", "get",
        "got", "getting", "keep", "keeps", "way", "im", "ive", "dont", "doesnt", "cant", "isnt", "whats", "thing",
        "things", "anyone", "someone", "something", "anything", "need", "needs", "want", "wants", "tell", "please",
        "one", "using", "use", "used", "like", "see", "etc",
    ], StringComparison.Ordinal);

    private static readonly SearchValues<char> Vowels = SearchValues.Create("aeiouy");

    /// <summary>The analyzed words of <paramref name="text"/> (stems, lowercase, no stop words), in order.</summary>
    public static List<string> Terms(string text)
    {
        var terms = new List<string>();
        foreach (var m in WordPattern().EnumerateMatches(text))
        {
            var word = text.AsSpan(m.Index, m.Length);
            if (word.Length > 40)
            {
                continue;
            }

            var lower = word.ToString().ToLowerInvariant();
            if (StopWords.Contains(lower))
            {
                continue;
            }

            terms.Add(Stem(lower));
        }

        return terms;
    }

    /// <summary>Code-like tokens (letters with digits, or words joined by '_'), normalized without separators.</summary>
    public static List<string> Codes(string text)
    {
        var codes = new List<string>();
        foreach (var m in CodePattern().EnumerateMatches(text))
        {
            var token = text.AsSpan(m.Index, m.Length);
            var hasDigit = token.IndexOfAnyInRange('0', '9') >= 0;
            var hasLetter = false;
            foreach (var c in token)
            {
                hasLetter |= char.IsLetter(c);
            }

            if (!hasLetter || !hasDigit && !token.Contains('_') || token.Length > 60)
            {
                continue;
            }

            var sb = new StringBuilder(token.Length);
            foreach (var c in token)
            {
                if (char.IsLetterOrDigit(c))
                {
                    sb.Append(char.ToLowerInvariant(c));
                }
            }

            if (sb.Length >= 2)
            {
                codes.Add(sb.ToString());
            }
        }

        return codes;
    }

    /// <summary>
    /// A deliberately light English stemmer (plurals, -ing, -ed, -ation, final e): enough to make
    /// "heating"/"heated"/"heats" and "levelling"/"leveling"/"level" meet, without the over-stemming that makes
    /// unrelated technical words collide.
    /// </summary>
    public static string Stem(string w)
    {
        if (w.Length <= 3 || !IsAsciiLetters(w))
        {
            return w;
        }

        if (w.EndsWith("ies", StringComparison.Ordinal) && w.Length > 4)
        {
            w = w[..^3] + "y";
        }
        else if (w.EndsWith("sses", StringComparison.Ordinal))
        {
            w = w[..^2];
        }
        else if (w.EndsWith('s') && !w.EndsWith("ss", StringComparison.Ordinal) && !w.EndsWith("us", StringComparison.Ordinal)
            && !w.EndsWith("is", StringComparison.Ordinal))
        {
            w = w[..^1];
        }

        if (w.EndsWith("ations", StringComparison.Ordinal) || w.EndsWith("ation", StringComparison.Ordinal))
        {
            w = w[..w.LastIndexOf("ation", StringComparison.Ordinal)] + "at";
        }
        else if (w.EndsWith("ing", StringComparison.Ordinal) && w.Length > 5 && HasVowel(w.AsSpan(0, w.Length - 3)))
        {
            w = w[..^3];
        }
        else if (w.EndsWith("ed", StringComparison.Ordinal) && w.Length > 4 && HasVowel(w.AsSpan(0, w.Length - 2)))
        {
            w = w[..^2];
        }

        if (w.EndsWith('e') && w.Length > 3)
        {
            w = w[..^1];
        }

        // Applied to every word alike, so "install"/"installed" and "levelling"/"leveling" meet.
        if (w.Length > 3 && w[^1] == w[^2] && !"aeiou".Contains(w[^1], StringComparison.Ordinal))
        {
            w = w[..^1];
        }

        return w;
    }

    private static bool HasVowel(ReadOnlySpan<char> s) => s.IndexOfAny(Vowels) >= 0;

    private static bool IsAsciiLetters(string w)
    {
        foreach (var c in w)
        {
            if (c is < 'a' or > 'z')
            {
                return false;
            }
        }

        return true;
    }

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex WordPattern();

    [GeneratedRegex(@"(?<![\p{L}\p{N}_])[\p{L}\p{N}]+(?:[-_.][\p{L}\p{N}]+)*")]
    private static partial Regex CodePattern();
}
