using System.Text.Json;

namespace EdgeLlm.Sensors.Mqtt;

/// <summary>The dotted subset of JSONPath that payload mappings need: <c>$.data.value</c>, <c>readings[0].v</c>, <c>$['a b'].c</c>.</summary>
internal sealed class JsonPath
{
    private readonly (string? Name, int Index)[] _steps;

    private JsonPath(string text, (string? Name, int Index)[] steps)
    {
        Text = text;
        _steps = steps;
    }

    public string Text { get; }

    public static JsonPath Parse(string text)
    {
        var steps = new List<(string?, int)>();
        var s = text.Trim();
        var i = s.StartsWith('$') ? 1 : 0;
        while (i < s.Length)
        {
            if (s[i] == '.')
            {
                i++;
            }
            else if (s[i] == '[')
            {
                var close = s.IndexOf(']', i);
                if (close < 0)
                {
                    throw new SensorConfigException($"JSON path '{text}' has an unclosed '['.");
                }

                var inner = s[(i + 1)..close].Trim();
                if (inner.Length >= 2 && inner[0] is '\'' or '"' && inner[^1] == inner[0])
                {
                    steps.Add((inner[1..^1], -1));
                }
                else if (int.TryParse(inner, out var index) && index >= 0)
                {
                    steps.Add((null, index));
                }
                else
                {
                    throw new SensorConfigException($"JSON path '{text}': [{inner}] must be an array index or a quoted name.");
                }

                i = close + 1;
                continue;
            }

            var end = s.IndexOfAny(['.', '['], i);
            end = end < 0 ? s.Length : end;
            if (end > i)
            {
                steps.Add((s[i..end], -1));
            }

            i = end;
        }

        return steps.Count == 0 ? throw new SensorConfigException($"JSON path '{text}' selects nothing: name a field, for example $.value.") : new JsonPath(text, [.. steps]);
    }

    public bool TrySelect(JsonElement root, out JsonElement found)
    {
        found = root;
        foreach (var (name, index) in _steps)
        {
            if (name is not null)
            {
                if (found.ValueKind != JsonValueKind.Object || !found.TryGetProperty(name, out found))
                {
                    return false;
                }
            }
            else if (found.ValueKind != JsonValueKind.Array || index >= found.GetArrayLength())
            {
                return false;
            }
            else
            {
                found = found[index];
            }
        }

        return true;
    }
}
