using System.Globalization;
using System.Text;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>
/// Canonical Unicode normalization (NFC, NFD) from built-in tables. The device runs .NET with invariant
/// globalization, where <see cref="string.Normalize()"/> leaves non-ASCII text unchanged, yet Qwen's
/// tokenizer normalizes to NFC and its ids depend on it.
/// </summary>
internal static partial class UnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, byte> CombiningClasses = ParseClasses();
    private static readonly Dictionary<int, int[]> Decompositions = ParseDecompositions();
    private static readonly Dictionary<long, int> Compositions = ParseCompositions();

    // Code points that can change under NFC: combining marks, characters that compose with what precedes
    // them, and characters that decompose without recomposing. Text without any is already NFC.
    private static readonly HashSet<int> NfcUnstable = BuildNfcUnstable();

    public static string Nfc(string text) => Normalize(text, compose: true);

    public static string Nfd(string text) => Normalize(text, compose: false);

    private static string Normalize(string text, bool compose)
    {
        // Below U+00C0 nothing decomposes, and below U+0300 nothing combines or composes.
        if (!HasCharAtOrAbove(text, compose ? '\u0300' : '\u00C0') || (compose && IsQuickNfc(text)))
        {
            return text;
        }

        var buffer = new List<int>(text.Length + 8);
        foreach (var rune in text.EnumerateRunes())
        {
            Decompose(rune.Value, buffer);
        }

        ReorderMarks(buffer);
        if (compose)
        {
            Compose(buffer);
        }

        var sb = new StringBuilder(buffer.Count + 4);
        foreach (var cp in buffer)
        {
            if (cp < 0x10000)
            {
                sb.Append((char)cp);
            }
            else
            {
                sb.Append(char.ConvertFromUtf32(cp));
            }
        }

        return sb.ToString();
    }

    private static bool IsQuickNfc(string text)
    {
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value >= 0x300 && NfcUnstable.Contains(rune.Value))
            {
                return false;
            }
        }

        return true;
    }

    private static HashSet<int> BuildNfcUnstable()
    {
        var set = new HashSet<int>(CombiningClasses.Keys);
        var composites = new HashSet<int>(Compositions.Values);
        foreach (var (key, _) in Compositions)
        {
            set.Add((int)(key & 0x1FFFFF));
        }

        foreach (var cp in Decompositions.Keys)
        {
            if (!composites.Contains(cp))
            {
                set.Add(cp);
            }
        }

        for (var cp = VBase; cp < VBase + VCount; cp++)
        {
            set.Add(cp);
        }

        for (var cp = TBase + 1; cp < TBase + TCount; cp++)
        {
            set.Add(cp);
        }

        return set;
    }

    private static bool HasCharAtOrAbove(string text, char limit)
    {
        foreach (var c in text)
        {
            if (c >= limit)
            {
                return true;
            }
        }

        return false;
    }

    private static void Decompose(int cp, List<int> output)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            var s = cp - SBase;
            output.Add(LBase + (s / NCount));
            output.Add(VBase + (s % NCount / TCount));
            if (s % TCount != 0)
            {
                output.Add(TBase + (s % TCount));
            }
        }
        else if (Decompositions.TryGetValue(cp, out var parts))
        {
            output.AddRange(parts);
        }
        else
        {
            output.Add(cp);
        }
    }

    private static int ClassOf(int cp) => CombiningClasses.TryGetValue(cp, out var c) ? c : 0;

    /// <summary>Canonical ordering: a stable sort of each run of combining marks by class.</summary>
    private static void ReorderMarks(List<int> cps)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var c = ClassOf(cps[i]);
            if (c == 0)
            {
                continue;
            }

            for (var j = i; j > 0 && ClassOf(cps[j - 1]) > c; j--)
            {
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    private static void Compose(List<int> cps)
    {
        if (cps.Count == 0)
        {
            return;
        }

        var starterPos = 0;
        var lastClass = ClassOf(cps[0]) == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < cps.Count; read++)
        {
            var cp = cps[read];
            var cls = ClassOf(cp);
            if ((lastClass < cls || lastClass == 0) && lastClass != 256 && TryCompose(cps[starterPos], cp, out var composite))
            {
                cps[starterPos] = composite;
                continue;
            }

            if (cls == 0)
            {
                starterPos = write;
            }

            lastClass = cls;
            cps[write++] = cp;
        }

        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
        {
            composite = SBase + ((((first - LBase) * VCount) + (second - VBase)) * TCount);
            return true;
        }

        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }

        return Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static Dictionary<int, byte> ParseClasses()
    {
        var map = new Dictionary<int, byte>();
        foreach (var entry in CombiningClassData.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            map[Hex(entry.AsSpan(0, colon))] = byte.Parse(entry.AsSpan(colon + 1), CultureInfo.InvariantCulture);
        }

        return map;
    }

    private static Dictionary<int, int[]> ParseDecompositions()
    {
        var map = new Dictionary<int, int[]>();
        foreach (var entry in DecompositionData.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            map[Hex(entry.AsSpan(0, eq))] = [.. entry[(eq + 1)..].Split(' ').Select(p => Hex(p))];
        }

        return map;
    }

    private static Dictionary<long, int> ParseCompositions()
    {
        var map = new Dictionary<long, int>();
        foreach (var entry in CompositionData.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var space = entry.IndexOf(' ', StringComparison.Ordinal);
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            map[((long)Hex(entry.AsSpan(0, space)) << 21) | (uint)Hex(entry.AsSpan(space + 1, eq - space - 1))] = Hex(entry.AsSpan(eq + 1));
        }

        return map;
    }

    private static int Hex(ReadOnlySpan<char> s) => int.Parse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
}
