using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>tokenizer.json's <c>normalizer</c>: rewrites each stretch of text between added tokens.</summary>
internal abstract class Normalizer
{
    public abstract string Normalize(string text);

    public static Normalizer? Parse(JsonElement e, JsonFieldReader reader, string field)
    {
        var type = ComponentJson.TypeOf(e, reader, field);
        return type switch
        {
            null => null,
            "Sequence" => new SequenceNormalizer(ComponentJson.List(e, reader, field, "normalizers", (item, f) => Parse(item, reader, f))),
            "Replace" => new ReplaceNormalizer(
                TokenPattern.Parse(reader.Object(e, field + ".pattern"), reader, field + ".pattern"),
                ReadContent(e, reader, field + ".content")),
            "Prepend" => new PrependNormalizer(reader.String(e, field + ".prepend")),
            "NFC" => new NfcNormalizer(),
            "NFD" => new NfdNormalizer(),
            "Lowercase" => new LowercaseNormalizer(),
            "Strip" => new StripNormalizer(
                reader.OptionalBool(e, field + ".strip_left") ?? true,
                reader.OptionalBool(e, field + ".strip_right") ?? true),
            "StripAccents" => new StripAccentsNormalizer(),
            _ => throw ComponentJson.Unsupported(reader, field, "normalizer", type, "Sequence, Replace, Prepend, NFC, NFD, Lowercase, Strip, StripAccents"),
        };
    }

    /// <summary>A <c>content</c> field that may legitimately be the empty string.</summary>
    internal static string ReadContent(JsonElement e, JsonFieldReader reader, string field)
    {
        var name = field[(field.LastIndexOf('.') + 1)..];
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
        {
            throw reader.Fail(field, "expected a string");
        }

        return v.GetString()!;
    }
}

internal sealed class SequenceNormalizer(Normalizer[] parts) : Normalizer
{
    public override string Normalize(string text)
    {
        foreach (var p in parts)
        {
            text = p.Normalize(text);
        }

        return text;
    }
}

internal sealed class ReplaceNormalizer(TokenPattern pattern, string content) : Normalizer
{
    public override string Normalize(string text) => pattern.Replace(text, content);
}

internal sealed class PrependNormalizer(string prepend) : Normalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prepend + text;
}

internal sealed class NfcNormalizer : Normalizer
{
    public override string Normalize(string text) => UnicodeNormalization.Nfc(text);
}

internal sealed class NfdNormalizer : Normalizer
{
    public override string Normalize(string text) => UnicodeNormalization.Nfd(text);
}

internal sealed class LowercaseNormalizer : Normalizer
{
    public override string Normalize(string text) => text.ToLowerInvariant();
}

internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override string Normalize(string text) => (left, right) switch
    {
        (true, true) => text.Trim(),
        (true, false) => text.TrimStart(),
        (false, true) => text.TrimEnd(),
        _ => text,
    };
}

internal sealed class StripAccentsNormalizer : Normalizer
{
    public override string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
