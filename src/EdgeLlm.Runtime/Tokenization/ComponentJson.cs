using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>Shared reading of tokenizer.json's pipeline components: <c>{"type": …}</c> objects and their Sequence lists.</summary>
internal static class ComponentJson
{
    /// <summary>The component's <c>type</c>, or null when the component is absent or null.</summary>
    public static string? TypeOf(JsonElement e, JsonFieldReader reader, string field)
    {
        if (e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return null;
        }

        reader.RequireKind(e, field, JsonValueKind.Object);
        return reader.String(e, field + ".type");
    }

    /// <summary>The components listed in <c>field.listName</c>, absent entries left out.</summary>
    public static T[] List<T>(JsonElement e, JsonFieldReader reader, string field, string listName, Func<JsonElement, string, T?> parse)
        where T : class
    {
        var listField = $"{field}.{listName}";
        if (!e.TryGetProperty(listName, out var list) || list.ValueKind != JsonValueKind.Array)
        {
            throw reader.Fail(listField, "expected a list");
        }

        var result = new List<T>();
        var i = 0;
        foreach (var item in list.EnumerateArray())
        {
            if (parse(item, $"{listField}[{i++}]") is { } part)
            {
                result.Add(part);
            }
        }

        return [.. result];
    }

    public static ModelFolderException Unsupported(JsonFieldReader reader, string field, string kind, string type, string supported) =>
        reader.Fail(field + ".type", $"{kind} '{type}' is not supported (supported: {supported})");
}
