using System.Text.Json;
using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// Writes a Hugging Face byte-level BPE tokenizer (<c>tokenizer.json</c> + <c>tokenizer_config.json</c>) whose
/// vocabulary fills every id in [0, vocab_size): the 256 byte symbols, runs of whitespace, merges of letters
/// (most frequent English letters first; word starts, with their leading space, before the insides of words),
/// then the family's special tokens at the top of the range. Any id a random model samples therefore decodes.
/// </summary>
internal static class TokenizerSynthesizer
{
    public const string TokenizerFile = "tokenizer.json";
    public const string ConfigFile = "tokenizer_config.json";

    /// <summary>Qwen2's pre-tokenizer split pattern (contractions, letter runs, single digits, punctuation, whitespace).</summary>
    public const string SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string LettersByFrequency = "etaoinshrdlcumwfgypbvkjxqz";

    /// <summary>The ids of the family's special tokens for a vocabulary of <paramref name="vocabSize"/>.</summary>
    public static IReadOnlyDictionary<string, int> SpecialTokenIds(ModelFamily family, int vocabSize)
    {
        var first = vocabSize - family.SpecialTokens.Count;
        return family.SpecialTokens.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => first + p.i, StringComparer.Ordinal);
    }

    /// <summary>The smallest vocabulary that still holds the byte symbols and the special tokens.</summary>
    public static int MinimumVocabSize(ModelFamily family) => 256 + family.SpecialTokens.Count;

    public static void Write(string folder, ModelFamily family, int vocabSize, int contextLength)
    {
        if (vocabSize < MinimumVocabSize(family))
        {
            throw new ArgumentException($"vocab_size {vocabSize} is below {MinimumVocabSize(family)}, the 256 byte symbols plus the {family.Name} special tokens.", nameof(vocabSize));
        }

        var (tokens, merges) = BuildVocabulary(vocabSize - family.SpecialTokens.Count);
        var specials = SpecialTokenIds(family, vocabSize);
        WriteTokenizerJson(Path.Combine(folder, TokenizerFile), family, tokens, merges, specials);
        WriteTokenizerConfig(Path.Combine(folder, ConfigFile), family, specials, contextLength);
    }

    internal static (List<string> Tokens, List<string> Merges) BuildVocabulary(int count)
    {
        var tokens = new List<string>(count);
        var merges = new List<string>(Math.Max(0, count - 256));
        var known = new HashSet<string>(StringComparer.Ordinal);
        for (var b = 0; b < 256; b++)
        {
            var c = ByteLevelAlphabet.Encode((byte)b);
            tokens.Add(c.ToString());
            known.Add(c.ToString());
        }

        void Merge(string left, string right)
        {
            if (tokens.Count < count && known.Add(left + right))
            {
                tokens.Add(left + right);
                merges.Add(left + " " + right);
            }
        }

        var space = ByteLevelAlphabet.Encode((byte)' ').ToString();
        var newline = ByteLevelAlphabet.Encode((byte)'\n').ToString();
        Merge(space, space);
        Merge(newline, newline);
        Merge(space + space, space + space);

        // Word starts (a space and letters) rank before letters inside words, so BPE applies a word
        // start's merges first and every such token is reachable: " the" becomes one token, not " t"+"he".
        var wordStartLimit = tokens.Count + ((count - tokens.Count + 1) / 2);
        GrowByLetters([(space, 0)], wordStartLimit);
        GrowByLetters(LettersByFrequency.Select((c, i) => (c.ToString(), i)).ToList(), count);

        // Level by level: every token of the previous level extended by one letter, cheapest
        // (most frequent letters) first, until the vocabulary reaches the limit.
        void GrowByLetters(List<(string Token, int Score)> level, int limit)
        {
            while (tokens.Count < limit && level.Count > 0)
            {
                var candidates = new List<(string Left, string Right, string Joined, int Score)>(level.Count * LettersByFrequency.Length);
                foreach (var (token, score) in level)
                {
                    for (var i = 0; i < LettersByFrequency.Length; i++)
                    {
                        var letter = LettersByFrequency[i].ToString();
                        candidates.Add((token, letter, token + letter, score + i));
                    }
                }

                candidates.Sort(static (a, b) =>
                {
                    var byScore = a.Score.CompareTo(b.Score);
                    return byScore != 0 ? byScore : string.CompareOrdinal(a.Joined, b.Joined);
                });

                var next = new List<(string Token, int Score)>();
                foreach (var (left, right, joined, score) in candidates)
                {
                    if (tokens.Count >= limit)
                    {
                        break;
                    }

                    Merge(left, right);
                    next.Add((joined, score));
                }

                level = next;
            }
        }

        return (tokens, merges);
    }

    private static void WriteTokenizerJson(string path, ModelFamily family, List<string> tokens, List<string> merges, IReadOnlyDictionary<string, int> specials)
    {
        JsonFile.Write(path, w =>
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");

            w.WriteStartArray("added_tokens");
            foreach (var (content, id) in specials.OrderBy(p => p.Value))
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                WriteSpecialTokenFields(w, content);
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartObject("normalizer");
            w.WriteString("type", "NFC");
            w.WriteEndObject();

            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", SplitPattern);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
            WriteByteLevel(w, null);
            w.WriteEndArray();
            w.WriteEndObject();

            if (family.AddBosToken && family.BosToken is { } bos)
            {
                w.WriteStartObject("post_processor");
                w.WriteString("type", "Sequence");
                w.WriteStartArray("processors");
                WriteByteLevel(w, null);
                WriteBosTemplate(w, bos, specials[bos]);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            else
            {
                WriteByteLevel(w, "post_processor");
            }

            WriteByteLevel(w, "decoder");

            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (var id = 0; id < tokens.Count; id++)
            {
                w.WriteNumber(tokens[id], id);
            }

            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var merge in merges)
            {
                w.WriteStringValue(merge);
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    // A special token matches as a whole, never normalized or stripped (the same fields in both files).
    private static void WriteSpecialTokenFields(Utf8JsonWriter w, string content)
    {
        w.WriteString("content", content);
        w.WriteBoolean("single_word", false);
        w.WriteBoolean("lstrip", false);
        w.WriteBoolean("rstrip", false);
        w.WriteBoolean("normalized", false);
        w.WriteBoolean("special", true);
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string? property)
    {
        if (property is null)
        {
            w.WriteStartObject();
        }
        else
        {
            w.WriteStartObject(property);
        }

        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
    }

    private static void WriteBosTemplate(Utf8JsonWriter w, string bos, int bosId)
    {
        w.WriteStartObject();
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        WritePiece(w, "SpecialToken", bos);
        WritePiece(w, "Sequence", "A");
        w.WriteEndArray();
        w.WriteStartArray("pair");
        WritePiece(w, "SpecialToken", bos);
        WritePiece(w, "Sequence", "A");
        WritePiece(w, "SpecialToken", bos);
        WritePiece(w, "Sequence", "B", typeId: 1);
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        w.WriteStartObject(bos);
        w.WriteString("id", bos);
        w.WriteStartArray("ids");
        w.WriteNumberValue(bosId);
        w.WriteEndArray();
        w.WriteStartArray("tokens");
        w.WriteStringValue(bos);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WritePiece(Utf8JsonWriter w, string kind, string id, int typeId = 0)
    {
        w.WriteStartObject();
        w.WriteStartObject(kind);
        w.WriteString("id", id);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteTokenizerConfig(string path, ModelFamily family, IReadOnlyDictionary<string, int> specials, int contextLength)
    {
        JsonFile.Write(path, w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("add_bos_token", family.AddBosToken);
            w.WriteBoolean("add_eos_token", false);
            w.WriteStartObject("added_tokens_decoder");
            foreach (var (content, id) in specials.OrderBy(p => p.Value))
            {
                w.WriteStartObject(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                WriteSpecialTokenFields(w, content);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            if (family.BosToken is { } bos)
            {
                w.WriteString("bos_token", bos);
            }
            else
            {
                w.WriteNull("bos_token");
            }

            w.WriteString("chat_template", family.ChatTemplate);
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteString("eos_token", family.EosTokens[0]);
            w.WriteNumber("model_max_length", contextLength);
            w.WriteString("pad_token", family.PadToken);
            w.WriteString("tokenizer_class", family.TokenizerClass);
            w.WriteNull("unk_token");
            w.WriteEndObject();
        });
    }
}
