using System.Text.Json;
using EdgeLlm.Agent.Hosting;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// The checks a config bundle's <c>agent.json</c> passes before anything is switched, on its own bytes: at most
/// <see cref="MaxBytes"/>, JSON as the configuration's JSON provider reads it (comments and trailing commas allowed,
/// duplicate keys not), an object of known sections (<see cref="AgentConfigSchema"/>) whose keys are members of the
/// section's options classes with values of the right shape, and none of the <see cref="Locked"/> keys.
/// </summary>
internal static class ConfigOverlay
{
    /// <summary>Largest overlay accepted: 256 KiB, far above any real configuration.</summary>
    public const int MaxBytes = 256 * 1024;

    /// <summary>Deepest nesting accepted (a configuration is a few levels deep).</summary>
    public const int MaxDepth = 16;

    /// <summary>
    /// Keys (and the keys under them) a remote configuration never changes, because a wrong value would brick the device or
    /// open it: where its state lives and who it is, which model folder it serves outside the signed slots, how it reaches
    /// and authenticates to its broker (and who may use the embedded one, on which address), what it uploads beyond
    /// metrics and events, what it trusts and runs for updates, and where its metrics endpoint listens. They stay with whoever owns the device file.
    /// </summary>
    public static readonly IReadOnlyList<string> Locked =
    [
        "Agent:DataDir", "Agent:DeviceId", "Agent:Model", "Agent:AllowSynthesizedModel",
        "Broker:Mode", "Broker:Host", "Broker:Port", "Broker:BindAddress", "Broker:Username", "Broker:Password", "Broker:UseTls",
        "Broker:CaFile", "Broker:ClientCertFile", "Broker:ClientKeyFile", "Broker:Users",
        "Fleet:QueryLogUpload", "Fleet:SerialPatterns",
        "Updates:TrustedKeys", "Updates:StateScript", "Updates:StateScriptTimeoutSeconds", "Updates:ImportFolder",
        "Metrics:Listen", "Metrics:AllowRemote",
    ];

    /// <summary>Why <paramref name="json"/> cannot be an overlay, or null; <paramref name="keys"/> gets every value's key (<c>Agent:MaxTokens</c>).</summary>
    public static string? Check(ReadOnlyMemory<byte> json, List<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (json.Length > MaxBytes)
        {
            return $"agent.json is {json.Length} bytes, more than the {MaxBytes} a config overlay may have";
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = MaxDepth });
        }
        catch (JsonException ex)
        {
            return $"agent.json is not valid JSON ({ex.Message})";
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return $"agent.json must be a JSON object of configuration sections, not {Kind(root)}";
            }

            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    return $"duplicate key {property.Name}";
                }

                if (AgentConfigSchema.Find(property.Name) is not { } section)
                {
                    return $"unknown key {property.Name} (the sections are {string.Join(", ", AgentConfigSchema.Sections.Select(s => s.Name))})";
                }

                if (property.Value.ValueKind != JsonValueKind.Object)
                {
                    return $"{property.Name} must be an object of settings, not {Kind(property.Value)}";
                }

                if (Members(property.Value, section.Types, property.Name, keys) is { } problem)
                {
                    return problem;
                }
            }
        }

        return null;
    }

    /// <summary>The deny-listed key <paramref name="key"/> falls under, or null.</summary>
    public static string? LockedBy(string key) =>
        Locked.FirstOrDefault(l => key.Equals(l, StringComparison.OrdinalIgnoreCase) || key.StartsWith(l + ":", StringComparison.OrdinalIgnoreCase));

    private static string? Members(JsonElement value, IReadOnlyList<Type> types, string path, List<string> keys)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in value.EnumerateObject())
        {
            var key = path + ":" + property.Name;
            if (!seen.Add(property.Name))
            {
                return $"duplicate key {key}";
            }

            if (LockedBy(key) is { } locked)
            {
                return $"{locked} cannot be changed by a bundle";
            }

            if (AgentConfigSchema.Member(types, property.Name) is not { } member)
            {
                return $"unknown key {key}";
            }

            if (Value(property.Value, member.PropertyType, key, keys) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private static string? Value(JsonElement value, Type type, string key, List<string> keys)
    {
        if (AgentConfigSchema.IsValue(type))
        {
            if (value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
            {
                return $"{key} must be a single value, not {Kind(value)}";
            }

            keys.Add(key);
            return null;
        }

        if (AgentConfigSchema.ElementOf(type) is { } element)
        {
            if (value.ValueKind != JsonValueKind.Array)
            {
                return $"{key} must be a list, not {Kind(value)}";
            }

            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                if (Value(item, element, $"{key}:{i++}", keys) is { } problem)
                {
                    return problem;
                }
            }

            return null;
        }

        return value.ValueKind == JsonValueKind.Object
            ? Members(value, [type], key, keys)
            : $"{key} must be an object of settings, not {Kind(value)}";
    }

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Array => "a list",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
