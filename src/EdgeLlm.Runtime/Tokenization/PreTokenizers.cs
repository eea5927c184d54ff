using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>tokenizer.json's <c>pre_tokenizer</c>: cuts normalized text into the words BPE sees.</summary>
internal abstract class PreTokenizer
{
    /// <summary>Splits every piece of <paramref name="pieces"/>; <paramref name="firstSection"/> is true when the text starts the input.</summary>
    public List<string> Apply(List<string> pieces, bool firstSection)
    {
        var output = new List<string>(pieces.Count * 2);
        foreach (var piece in pieces)
        {
            Split(piece, firstSection, output);
        }

        return output;
    }

    protected abstract void Split(string piece, bool firstSection, List<string> output);

    public static PreTokenizer? Parse(JsonElement e, JsonFieldReader reader, string field)
    {
        var type = ComponentJson.TypeOf(e, reader, field);
        switch (type)
        {
            case null:
                return null;
            case "Sequence":
                return new SequencePreTokenizer(ComponentJson.List(e, reader, field, "pretokenizers", (item, f) => Parse(item, reader, f)));
            case "Split":
                return new SplitPreTokenizer(
                    TokenPattern.Parse(reader.Object(e, field + ".pattern"), reader, field + ".pattern"),
                    ParseBehavior(reader.String(e, field + ".behavior"), reader, field + ".behavior"),
                    reader.OptionalBool(e, field + ".invert") ?? false);
            case "ByteLevel":
                return new ByteLevelPreTokenizer(
                    reader.OptionalBool(e, field + ".add_prefix_space") ?? true,
                    reader.OptionalBool(e, field + ".use_regex") ?? true);
            case "Metaspace":
                return new MetaspacePreTokenizer(
                    ReadReplacement(e, reader, field),
                    ReadPrependScheme(e, reader, field),
                    reader.OptionalBool(e, field + ".split") ?? true);
            case "Digits":
                return new SplitPreTokenizer(
                    TokenPattern.FromTrustedRegex((reader.OptionalBool(e, field + ".individual_digits") ?? false) ? @"\p{Nd}" : @"\p{Nd}+"),
                    SplitBehavior.Isolated,
                    invert: false);
            case "WhitespaceSplit":
                return new SplitPreTokenizer(TokenPattern.FromTrustedRegex(@"\s+"), SplitBehavior.Removed, invert: false);
            case "Whitespace":
                return new SplitPreTokenizer(TokenPattern.FromTrustedRegex(@"\w+|[^\w\s]+"), SplitBehavior.Removed, invert: true);
            default:
                throw ComponentJson.Unsupported(reader, field, "pre-tokenizer", type, "Sequence, Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit");
        }
    }

    internal static string ReadReplacement(JsonElement e, JsonFieldReader reader, string field)
    {
        var replacement = reader.OptionalString(e, field + ".replacement") ?? "\u2581";
        return replacement;
    }

    internal static PrependScheme ReadPrependScheme(JsonElement e, JsonFieldReader reader, string field)
    {
        var scheme = reader.OptionalString(e, field + ".prepend_scheme");
        if (scheme is null)
        {
            // Files written before prepend_scheme existed say add_prefix_space instead.
            return (reader.OptionalBool(e, field + ".add_prefix_space") ?? true) ? PrependScheme.Always : PrependScheme.Never;
        }

        return scheme switch
        {
            "always" => PrependScheme.Always,
            "first" => PrependScheme.First,
            "never" => PrependScheme.Never,
            _ => throw reader.Fail(field + ".prepend_scheme", $"'{scheme}' is not one of always, first, never"),
        };
    }

    private static SplitBehavior ParseBehavior(string behavior, JsonFieldReader reader, string field) => behavior switch
    {
        "Removed" => SplitBehavior.Removed,
        "Isolated" => SplitBehavior.Isolated,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw reader.Fail(field, $"'{behavior}' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous"),
    };
}

internal enum PrependScheme
{
    Always,
    First,
    Never,
}

internal enum SplitBehavior
{
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

internal sealed class SequencePreTokenizer(PreTokenizer[] parts) : PreTokenizer
{
    protected override void Split(string piece, bool firstSection, List<string> output)
    {
        List<string> pieces = [piece];
        foreach (var p in parts)
        {
            pieces = p.Apply(pieces, firstSection);
        }

        output.AddRange(pieces);
    }
}

/// <summary>Hugging Face's <c>Split</c>: the pattern marks delimiters (or, inverted, the pieces to keep).</summary>
internal sealed class SplitPreTokenizer(TokenPattern pattern, SplitBehavior behavior, bool invert) : PreTokenizer
{
    protected override void Split(string piece, bool firstSection, List<string> output) =>
        SplitBy(pattern, behavior, invert, piece, output);

    internal static void SplitBy(TokenPattern pattern, SplitBehavior behavior, bool invert, string piece, List<string> output)
    {
        var matches = new List<(int Start, int Length)>();
        pattern.Matches(piece, matches);

        // Cut the piece into alternating runs, each flagged as a delimiter or not.
        var runs = new List<(int Start, int Length, bool Delimiter)>(matches.Count * 2 + 1);
        var at = 0;
        foreach (var (start, length) in matches)
        {
            if (start > at)
            {
                runs.Add((at, start - at, invert));
            }

            runs.Add((start, length, !invert));
            at = start + length;
        }

        if (at < piece.Length)
        {
            runs.Add((at, piece.Length - at, invert));
        }

        var pendingStart = -1;
        var pendingLength = 0;
        for (var i = 0; i < runs.Count; i++)
        {
            var (start, length, delimiter) = runs[i];
            switch (behavior)
            {
                case SplitBehavior.Removed:
                    if (!delimiter)
                    {
                        output.Add(piece.Substring(start, length));
                    }

                    break;
                case SplitBehavior.Isolated:
                    output.Add(piece.Substring(start, length));
                    break;
                case SplitBehavior.MergedWithPrevious:
                    if (delimiter && output.Count > 0 && pendingStart >= 0)
                    {
                        output[^1] = piece.Substring(pendingStart, start + length - pendingStart);
                        pendingStart = -1;
                    }
                    else
                    {
                        output.Add(piece.Substring(start, length));
                        pendingStart = delimiter ? -1 : start;
                    }

                    break;
                case SplitBehavior.MergedWithNext:
                    if (delimiter)
                    {
                        // Only one delimiter joins the next piece; an earlier one in a run stands alone.
                        if (pendingStart >= 0)
                        {
                            output.Add(piece.Substring(pendingStart, pendingLength));
                        }

                        pendingStart = start;
                        pendingLength = length;
                    }
                    else
                    {
                        var s = pendingStart >= 0 ? pendingStart : start;
                        output.Add(piece.Substring(s, start + length - s));
                        pendingStart = -1;
                    }

                    break;
                case SplitBehavior.Contiguous:
                    if (delimiter && i > 0 && runs[i - 1].Delimiter)
                    {
                        var prev = runs[i - 1];
                        runs[i] = (prev.Start, start + length - prev.Start, true);
                        output[^1] = piece.Substring(prev.Start, start + length - prev.Start);
                    }
                    else
                    {
                        output.Add(piece.Substring(start, length));
                    }

                    break;
            }
        }

        if (behavior == SplitBehavior.MergedWithNext && pendingStart >= 0)
        {
            output.Add(piece.Substring(pendingStart, pendingLength));
        }
    }
}

/// <summary>Byte-level pre-tokenization: optional GPT-2 split, then each piece's UTF-8 bytes as characters.</summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    // GPT-2's split; \s here is Unicode White_Space, as Oniguruma reads it.
    private static readonly TokenPattern Gpt2 = TokenPattern.FromTrustedRegex(
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");

    protected override void Split(string piece, bool firstSection, List<string> output)
    {
        if (addPrefixSpace && !piece.StartsWith(' '))
        {
            piece = " " + piece;
        }

        if (!useRegex)
        {
            output.Add(ByteLevelAlphabet.EncodeText(piece));
            return;
        }

        var matches = new List<(int Start, int Length)>();
        Gpt2.Matches(piece, matches);
        foreach (var (start, length) in matches)
        {
            output.Add(ByteLevelAlphabet.EncodeText(piece.AsSpan(start, length)));
        }
    }
}

/// <summary>SentencePiece-style spaces: ' ' becomes '▁', optionally one is prepended, optionally split before each.</summary>
internal sealed class MetaspacePreTokenizer(string replacement, PrependScheme scheme, bool split) : PreTokenizer
{
    private readonly TokenPattern replacementPattern = TokenPattern.FromTrustedRegex(System.Text.RegularExpressions.Regex.Escape(replacement));

    protected override void Split(string piece, bool firstSection, List<string> output)
    {
        var text = piece.Replace(" ", replacement, StringComparison.Ordinal);
        if (!text.StartsWith(replacement, StringComparison.Ordinal) &&
            (scheme == PrependScheme.Always || (scheme == PrependScheme.First && firstSection)))
        {
            text = replacement + text;
        }

        if (split)
        {
            SplitPreTokenizer.SplitBy(replacementPattern, SplitBehavior.MergedWithNext, invert: false, text, output);
        }
        else
        {
            output.Add(text);
        }
    }
}
