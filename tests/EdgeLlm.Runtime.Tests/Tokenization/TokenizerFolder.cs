using System.Text.Json;

namespace EdgeLlm.Runtime.Tests.Tokenization;

/// <summary>Writes small hand-made tokenizer folders (the shape <c>edgellm model synth</c> writes) for tests.</summary>
internal static class TokenizerFolder
{
    /// <summary>A Qwen2-style byte-level BPE tokenizer.json: all 256 byte characters plus a few merges and special tokens.</summary>
    public static string ByteLevelTokenizerJson(string[] merges, string? preTokenizerRegex = null)
    {
        var vocab = new Dictionary<string, int>();
        for (var b = 0; b < 256; b++)
        {
            vocab[ByteLevelChar(b)] = vocab.Count;
        }

        foreach (var m in merges)
        {
            var parts = m.Split(' ');
            vocab.TryAdd(parts[0] + parts[1], vocab.Count);
        }

        var next = vocab.Count;
        var regex = preTokenizerRegex ?? @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        var doc = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new object[]
            {
                Added(next, "<|endoftext|>", special: true),
                Added(next + 1, "<|im_start|>", special: true),
                Added(next + 2, "<|im_end|>", special: true),
                Added(next + 3, "<think>", special: false),
            },
            ["normalizer"] = new { type = "NFC" },
            ["pre_tokenizer"] = new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = regex }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
                },
            },
            ["post_processor"] = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
            ["decoder"] = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE",
                ["unk_token"] = null,
                ["byte_fallback"] = false,
                ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
        return JsonSerializer.Serialize(doc);
    }

    public const string QwenStyleConfig =
        """{"bos_token": null, "eos_token": "<|im_end|>", "pad_token": {"content": "<|endoftext|>", "__type": "AddedToken"}, "clean_up_tokenization_spaces": false}""";

    public static string Write(TempDir dir, string tokenizerJson, string? configJson = QwenStyleConfig)
    {
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer.json"), tokenizerJson);
        if (configJson is not null)
        {
            File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), configJson);
        }

        return dir.Path;
    }

    /// <summary>GPT-2's printable stand-in for a byte.</summary>
    public static string ByteLevelChar(int b)
    {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        {
            return ((char)b).ToString();
        }

        var n = 0;
        for (var k = 0; k < b; k++)
        {
            if (!((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF)))
            {
                n++;
            }
        }

        return ((char)(256 + n)).ToString();
    }

    private static object Added(int id, string content, bool special) =>
        new { id, content, single_word = false, lstrip = false, rstrip = false, normalized = false, special };
}
