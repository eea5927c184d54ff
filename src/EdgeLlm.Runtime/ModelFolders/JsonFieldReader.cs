using System.Text.Json;

namespace EdgeLlm.Runtime.ModelFolders;

/// <summary>
/// Reads typed fields from a JSON document and turns every missing or mistyped field into a
/// <see cref="ModelFolderException"/> naming the file and the field's full path.
/// </summary>
internal sealed class JsonFieldReader(string path)
{
    public string Path => path;

    public void RequireKind(JsonElement e, string field, JsonValueKind kind)
    {
        if (e.ValueKind != kind)
        {
            throw Fail(field.Length == 0 ? null : field, $"expected {Describe(kind)}, found {Describe(e.ValueKind)}");
        }
    }

    public JsonElement Object(JsonElement parent, string field)
    {
        var e = Get(parent, field) ?? throw Fail(field, "is missing");
        RequireKind(e, field, JsonValueKind.Object);
        return e;
    }

    public JsonElement? OptionalObject(JsonElement? parent, string field)
    {
        var e = Get(parent, field);
        if (e is null || e.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        RequireKind(e.Value, field, JsonValueKind.Object);
        return e;
    }

    public string String(JsonElement parent, string field) =>
        OptionalString(parent, field) ?? throw Fail(field, "is missing");

    public string? OptionalString(JsonElement? parent, string field)
    {
        var e = Get(parent, field);
        if (e is null || e.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        RequireKind(e.Value, field, JsonValueKind.String);
        var s = e.Value.GetString()!;
        return s.Length == 0 ? throw Fail(field, "is empty") : s;
    }

    public string? OptionalPattern(JsonElement? parent, string field)
    {
        var s = OptionalString(parent, field);
        if (s is not null && !s.Contains("%d", StringComparison.Ordinal))
        {
            throw Fail(field, $"'{s}' must contain %d where the layer number goes");
        }

        return s;
    }

    public int PositiveInt(JsonElement parent, string field) =>
        OptionalPositiveInt(parent, field) ?? throw Fail(field, "is missing");

    public int? OptionalPositiveInt(JsonElement? parent, string field) => OptionalInt(parent, field, min: 1);

    public int? OptionalInt(JsonElement? parent, string field, int min = int.MinValue)
    {
        var e = Get(parent, field);
        if (e is null || e.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return ReadInt(e.Value, field, min);
    }

    public double? OptionalDouble(JsonElement? parent, string field, double min = double.MinValue, double max = double.MaxValue, bool exclusiveMin = false)
    {
        var e = Get(parent, field);
        if (e is null || e.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        RequireKind(e.Value, field, JsonValueKind.Number);
        var v = e.Value.GetDouble();
        if (v < min || v > max || (exclusiveMin && v <= min) || double.IsNaN(v))
        {
            throw Fail(field, $"{v} is out of range");
        }

        return v;
    }

    public bool? OptionalBool(JsonElement? parent, string field)
    {
        var e = Get(parent, field);
        if (e is null || e.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.Value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail(field, $"expected true or false, found {Describe(e.Value.ValueKind)}"),
        };
    }

    /// <summary>An id or a list of ids (genai_config's <c>eos_token_id</c> may be either).</summary>
    public IReadOnlyList<int> IntOrIntArray(JsonElement parent, string field)
    {
        var e = Get(parent, field) ?? throw Fail(field, "is missing");
        if (e.ValueKind == JsonValueKind.Array)
        {
            var list = new List<int>();
            foreach (var item in e.EnumerateArray())
            {
                list.Add(ReadInt(item, field, 0));
            }

            return list.Count == 0 ? throw Fail(field, "is an empty list") : list;
        }

        return [ReadInt(e, field, 0)];
    }

    public ModelFolderException Fail(string? field, string problem) => new(path, field, problem);

    private int ReadInt(JsonElement e, string field, int min)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var v))
        {
            throw Fail(field, $"expected an integer, found {(e.ValueKind == JsonValueKind.Number ? e.GetRawText() : Describe(e.ValueKind))}");
        }

        return v < min ? throw Fail(field, $"{v} is out of range (at least {min})") : v;
    }

    private static JsonElement? Get(JsonElement? parent, string field)
    {
        if (parent is not { ValueKind: JsonValueKind.Object } p)
        {
            return null;
        }

        var name = field[(field.LastIndexOf('.') + 1)..];
        return p.TryGetProperty(name, out var v) ? v : null;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
