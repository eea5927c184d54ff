using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Agent.Updates;

/// <summary>An installed adapter: <c>adapters/NAME/VERSION/FILE</c> (one <c>.onnx_adapter</c> file).</summary>
internal sealed record AdapterRef(string Name, string Version, string File)
{
    /// <summary>The name the adapter is loaded under on a model, and the one answers report: <c>NAME@VERSION</c>.</summary>
    [JsonIgnore]
    public string Key => Name + "@" + Version;

    public override string ToString() => Name + " " + Version;
}

/// <summary>
/// <c>adapters/adapters.json</c>: the adapter applied to answers (<see cref="Active"/>), the one kept for rollback, and
/// why the last installation failed. Written by rename, so a crash leaves the old or the new state, never a half.
/// </summary>
internal sealed record AdapterState
{
    public AdapterRef? Active { get; init; }
    public AdapterRef? Previous { get; init; }
    public ActivationFailure? LastFailure { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AdapterState))]
internal sealed partial class AdapterJsonContext : JsonSerializerContext;

/// <summary>
/// The adapter slots under <c>DATA_DIR/adapters/</c>: <c>NAME/VERSION/</c> folders made by renaming a verified staging
/// folder, and <see cref="StateFile"/>. Only the active and the previous slot are kept.
/// </summary>
internal sealed class AdapterSlots(string dataDir)
{
    public const string StateFile = "adapters.json";

    public string Root { get; } = Path.Combine(Path.GetFullPath(dataDir), "adapters");

    public string PathOf(string name, string version) => Path.Combine(Root, name, version);

    public string FileOf(AdapterRef adapter)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        return Path.Combine(PathOf(adapter.Name, adapter.Version), adapter.File);
    }

    /// <exception cref="InvalidDataException">The state file is not valid JSON (it was edited by hand).</exception>
    public AdapterState ReadState()
    {
        var path = Path.Combine(Root, StateFile);
        if (!File.Exists(path))
        {
            return new AdapterState();
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), AdapterJsonContext.Default.AdapterState) ?? new AdapterState();
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not valid adapter state ({ex.Message}); delete it to run without an adapter", ex);
        }
    }

    public void WriteState(AdapterState state) =>
        DurableFile.Replace(Path.Combine(Root, StateFile), stream => JsonSerializer.Serialize(stream, state, AdapterJsonContext.Default.AdapterState));

    /// <summary>Slot folders neither the active nor the previous adapter lives in: left by a crash or a failed installation.</summary>
    public void DeleteLeftovers(AdapterState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!Directory.Exists(Root))
        {
            return;
        }

        foreach (var entry in Directory.EnumerateFiles(Root, "*.tmp-*"))
        {
            File.Delete(entry);
        }

        foreach (var name in Directory.EnumerateDirectories(Root))
        {
            foreach (var version in Directory.EnumerateDirectories(name))
            {
                var (n, v) = (Path.GetFileName(name), Path.GetFileName(version));
                if (!Is(state.Active, n, v) && !Is(state.Previous, n, v))
                {
                    Directory.Delete(version, recursive: true);
                }
            }

            if (!Directory.EnumerateFileSystemEntries(name).Any())
            {
                Directory.Delete(name);
            }
        }
    }

    private static bool Is(AdapterRef? adapter, string name, string version) => adapter is not null && adapter.Name == name && adapter.Version == version;
}
