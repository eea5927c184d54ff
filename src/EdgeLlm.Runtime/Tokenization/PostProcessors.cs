using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>tokenizer.json's <c>post_processor</c>: adds a model's special tokens (BOS, …) around an encoded text.</summary>
internal abstract class PostProcessor
{
    public abstract List<int> Process(List<int> ids, bool addSpecialTokens);

    public static PostProcessor? Parse(JsonElement e, JsonFieldReader reader, string field, Func<string, int?> tokenToId)
    {
        var type = ComponentJson.TypeOf(e, reader, field);
        switch (type)
        {
            case null:
            case "ByteLevel":
                return null;
            case "TemplateProcessing":
                return TemplateProcessor.FromJson(e, reader, field, tokenToId);
            case "BertProcessing":
            case "RobertaProcessing":
                return new TemplateProcessor(
                    [ReadPair(e, reader, field + ".cls"), null, ReadPair(e, reader, field + ".sep")]);
            case "Sequence":
                return new SequenceProcessor(ComponentJson.List(e, reader, field, "processors", (item, f) => Parse(item, reader, f, tokenToId)));
            default:
                throw ComponentJson.Unsupported(reader, field, "post-processor", type, "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence");
        }
    }

    private static int[] ReadPair(JsonElement e, JsonFieldReader reader, string field)
    {
        var name = field[(field.LastIndexOf('.') + 1)..];
        if (e.TryGetProperty(name, out var pair) && pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2 &&
            pair[1].ValueKind == JsonValueKind.Number && pair[1].TryGetInt32(out var id))
        {
            return [id];
        }

        throw reader.Fail(field, "expected [\"token\", id]");
    }
}

internal sealed class SequenceProcessor(PostProcessor[] parts) : PostProcessor
{
    public override List<int> Process(List<int> ids, bool addSpecialTokens)
    {
        foreach (var p in parts)
        {
            ids = p.Process(ids, addSpecialTokens);
        }

        return ids;
    }
}

/// <summary>The <c>single</c> template: special-token ids around the sequence (a null item stands for the sequence).</summary>
internal sealed class TemplateProcessor(int[]?[] items) : PostProcessor
{
    public override List<int> Process(List<int> ids, bool addSpecialTokens)
    {
        if (!addSpecialTokens)
        {
            return ids;
        }

        var output = new List<int>(ids.Count + 4);
        foreach (var item in items)
        {
            if (item is null)
            {
                output.AddRange(ids);
            }
            else
            {
                output.AddRange(item);
            }
        }

        return output;
    }

    public static TemplateProcessor FromJson(JsonElement e, JsonFieldReader reader, string field, Func<string, int?> tokenToId)
    {
        var singleField = field + ".single";
        if (!e.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array)
        {
            throw reader.Fail(singleField, "expected a list");
        }

        var specials = reader.OptionalObject(e, field + ".special_tokens");
        var items = new List<int[]?>();
        var i = 0;
        foreach (var item in single.EnumerateArray())
        {
            var itemField = $"{singleField}[{i++}]";
            if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("Sequence", out _))
            {
                items.Add(null);
            }
            else if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("SpecialToken", out var special) &&
                     special.ValueKind == JsonValueKind.Object && special.TryGetProperty("id", out var name) && name.ValueKind == JsonValueKind.String)
            {
                items.Add(SpecialIds(name.GetString()!, specials, reader, field, itemField, tokenToId));
            }
            else
            {
                throw reader.Fail(itemField, "expected {\"SpecialToken\": {\"id\": …}} or {\"Sequence\": {\"id\": \"A\"}}");
            }
        }

        return new TemplateProcessor([.. items]);
    }

    private static int[] SpecialIds(string name, JsonElement? specials, JsonFieldReader reader, string field, string itemField, Func<string, int?> tokenToId)
    {
        if (specials is { } map && map.TryGetProperty(name, out var entry) && entry.ValueKind == JsonValueKind.Object &&
            entry.TryGetProperty("ids", out var ids) && ids.ValueKind == JsonValueKind.Array)
        {
            var result = new List<int>();
            foreach (var id in ids.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out var v) || v < 0)
                {
                    throw reader.Fail($"{field}.special_tokens.{name}.ids", $"expected a list of token ids, found {ids.GetRawText()}");
                }

                result.Add(v);
            }

            return [.. result];
        }

        return tokenToId(name) is { } only ? [only] : throw reader.Fail(itemField, $"special token '{name}' is neither in special_tokens nor in the vocabulary");
    }
}
