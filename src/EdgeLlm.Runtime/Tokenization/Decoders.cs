using System.Text;
using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>tokenizer.json's <c>decoder</c>: turns the token strings of a sequence back into text pieces.</summary>
internal abstract class TokenDecoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    public static TokenDecoder? Parse(JsonElement e, JsonFieldReader reader, string field, ISet<string> addedTokens)
    {
        var type = ComponentJson.TypeOf(e, reader, field);
        switch (type)
        {
            case null:
                return null;
            case "Sequence":
                return new SequenceDecoder(ComponentJson.List(e, reader, field, "decoders", (item, f) => Parse(item, reader, f, addedTokens)));
            case "ByteLevel":
                return new ByteLevelDecoder(addedTokens);
            case "Replace":
                return new ReplaceDecoder(
                    TokenPattern.Parse(reader.Object(e, field + ".pattern"), reader, field + ".pattern"),
                    Normalizer.ReadContent(e, reader, field + ".content"));
            case "ByteFallback":
                return new ByteFallbackDecoder();
            case "Fuse":
                return new FuseDecoder();
            case "Strip":
                var content = Normalizer.ReadContent(e, reader, field + ".content");
                if (content.Length != 1)
                {
                    throw reader.Fail(field + ".content", "expected a single character");
                }

                return new StripDecoder(content[0], reader.OptionalInt(e, field + ".start", 0) ?? 0, reader.OptionalInt(e, field + ".stop", 0) ?? 0);
            case "Metaspace":
                return new MetaspaceDecoder(PreTokenizer.ReadReplacement(e, reader, field), PreTokenizer.ReadPrependScheme(e, reader, field));
            default:
                throw ComponentJson.Unsupported(reader, field, "decoder", type, "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace");
        }
    }
}

internal sealed class SequenceDecoder(TokenDecoder[] parts) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var p in parts)
        {
            tokens = p.DecodeChain(tokens);
        }

        return tokens;
    }
}

/// <summary>Maps byte-level characters back to bytes and reads runs of them as UTF-8; added tokens pass through as written.</summary>
internal sealed class ByteLevelDecoder(ISet<string> addedTokens) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>();
        var bytes = new List<byte>();
        Span<byte> scratch = stackalloc byte[4];
        foreach (var token in tokens)
        {
            if (addedTokens.Contains(token))
            {
                Flush(bytes, output);
                output.Add(token);
                continue;
            }

            foreach (var c in token)
            {
                if (ByteLevelAlphabet.TryDecode(c, out var b))
                {
                    bytes.Add(b);
                }
                else
                {
                    // Not a byte-level character: keep it as its own UTF-8.
                    var n = Encoding.UTF8.GetBytes([c], scratch);
                    for (var k = 0; k < n; k++)
                    {
                        bytes.Add(scratch[k]);
                    }
                }
            }
        }

        Flush(bytes, output);
        return output;
    }

    private static void Flush(List<byte> bytes, List<string> output)
    {
        if (bytes.Count > 0)
        {
            output.Add(Utf8.Decode(bytes));
            bytes.Clear();
        }
    }
}

internal sealed class ReplaceDecoder(TokenPattern pattern, string content) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            tokens[i] = pattern.Replace(tokens[i], content);
        }

        return tokens;
    }
}

/// <summary>Joins runs of <c>&lt;0xNN&gt;</c> tokens into the UTF-8 text they spell.</summary>
internal sealed class ByteFallbackDecoder : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            if (TryParseByteToken(token, out var b))
            {
                bytes.Add(b);
                continue;
            }

            if (bytes.Count > 0)
            {
                output.Add(Utf8.Decode(bytes));
                bytes.Clear();
            }

            output.Add(token);
        }

        if (bytes.Count > 0)
        {
            output.Add(Utf8.Decode(bytes));
        }

        return output;
    }

    internal static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>' &&
               byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
    }
}

internal sealed class FuseDecoder : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>Removes up to <c>start</c> leading and <c>stop</c> trailing copies of one character from each piece.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        for (var t = 0; t < tokens.Count; t++)
        {
            var token = tokens[t];
            var from = 0;
            while (from < start && from < token.Length && token[from] == content)
            {
                from++;
            }

            var to = token.Length;
            while (token.Length - to < stop && to > from && token[to - 1] == content)
            {
                to--;
            }

            tokens[t] = token[from..to];
        }

        return tokens;
    }
}

internal sealed class MetaspaceDecoder(string replacement, PrependScheme scheme) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            var text = tokens[i].Replace(replacement, " ", StringComparison.Ordinal);
            if (i == 0 && scheme != PrependScheme.Never && text.StartsWith(' '))
            {
                text = text[1..];
            }

            tokens[i] = text;
        }

        return tokens;
    }
}

internal static class Utf8
{
    /// <summary>UTF-8 to text, each invalid sequence becoming one U+FFFD (the WHATWG rule browsers and Hugging Face use).</summary>
    public static string Decode(List<byte> bytes) => Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
}
