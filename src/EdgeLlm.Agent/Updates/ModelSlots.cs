using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Agent.Updates;

/// <summary>A model slot: <c>models/NAME/VERSION/</c>.</summary>
internal sealed record SlotRef(string Name, string Version)
{
    /// <summary>The slot's path relative to <c>models/</c>, also the (relative) target of the <c>active</c> and <c>previous</c> links.</summary>
    [JsonIgnore]
    public string Relative => Name + "/" + Version;

    public override string ToString() => Name + " " + Version;
}

/// <summary>An activation in progress.</summary>
/// <param name="Slot">The slot being activated.</param>
/// <param name="Step">The last step it started (<see cref="ActivationSteps"/>).</param>
/// <param name="ReusedSlot">The slot is the rollback slot itself (re-activating the previous version), so undoing never deletes it.</param>
/// <param name="ProbationLeft">In probation: the answers still to give.</param>
/// <param name="StoppedCleanly">In probation: the agent stopped normally (not a crash), so the next start goes on with the probation.</param>
internal sealed record PendingActivation(SlotRef Slot, string Step, bool ReusedSlot, int ProbationLeft = 0, bool StoppedCleanly = false);

/// <summary>Why the last activation was refused or rolled back (so a fleet sync does not retry the same version blindly).</summary>
internal sealed record ActivationFailure(SlotRef Slot, string State, string Reason, DateTimeOffset At);

/// <summary>
/// <c>models/slots.json</c>: the committed <see cref="Active"/> and <see cref="Previous"/> slots and the activation in
/// progress. The committed fields change only when an activation is committed (after probation) or rolled back, so
/// after a crash they name a complete, once-working state to return to.
/// </summary>
internal sealed record SlotState
{
    public SlotRef? Active { get; init; }
    public SlotRef? Previous { get; init; }
    public PendingActivation? Pending { get; init; }
    public ActivationFailure? LastFailure { get; init; }
}

/// <summary>The steps an activation records in <see cref="PendingActivation.Step"/>, in order.</summary>
internal static class ActivationSteps
{
    /// <summary>Moving the staging folder into its slot.</summary>
    public const string Unpacking = "unpacking";

    /// <summary>Loading the slot in a second session while the old model serves.</summary>
    public const string Loading = "loading";

    public const string SmokeTest = "smoke_test";

    /// <summary>Renaming the links; a crash here leaves either link target, which recovery reads back.</summary>
    public const string Switching = "switching";

    /// <summary>Switched; the first real answers decide whether the slot is committed or rolled back.</summary>
    public const string Probation = "probation";

    /// <summary>Whether a crash at <paramref name="step"/> happened before <c>models/active</c> could name the new slot.</summary>
    public static bool BeforeSwitch(string step) => step is Unpacking or Loading or SmokeTest;
}

/// <summary>A slot as <c>edgellm model info --data-dir</c> shows it.</summary>
internal sealed record SlotInfo(string Name, string Version, string Path, bool Complete);

/// <summary>What <c>models/</c> holds: the slot <c>active</c> names, the one kept for rollback, and any activation in progress.</summary>
internal sealed record SlotsReport(string ModelsDir, SlotInfo? Active, SlotInfo? Previous, PendingActivation? Pending, ActivationFailure? LastFailure);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SlotState))]
internal sealed partial class SlotJsonContext : JsonSerializerContext;

/// <summary>
/// The model slots under <c>DATA_DIR/models/</c>:
/// <list type="bullet">
/// <item><c>NAME/VERSION/</c>: one complete model folder per slot, made by renaming a verified staging folder (same filesystem).</item>
/// <item><c>active</c>, <c>previous</c>: symlinks with relative targets (<c>NAME/VERSION</c>), switched atomically by creating
/// <c>.active.tmp-RANDOM</c> and renaming it over the link with rename(2) (<see cref="File.Replace(string, string, string?)"/>
/// replaces the link itself, never its target; <see cref="File.Move(string, string, bool)"/> refuses a link to a directory).</item>
/// <item><c>slots.json</c>: <see cref="SlotState"/>, written to a temp file, flushed to disk, then renamed over the old one.</item>
/// </list>
/// The <c>active</c> link is the truth about what is served; slots.json says what was in progress, so
/// <see cref="ModelActivator.Recover"/> can finish or undo it after a crash.
/// </summary>
internal sealed class ModelSlots
{
    public const string ActiveLink = "active";
    public const string PreviousLink = "previous";
    public const string StateFile = "slots.json";

    private readonly SlotLinks _links;

    public ModelSlots(string dataDir)
    {
        Root = Path.Combine(Path.GetFullPath(dataDir), "models");
        _links = new SlotLinks(Root, "move the model into models/NAME/VERSION/ and let the agent manage the link");
    }

    /// <summary><c>DATA_DIR/models</c>.</summary>
    public string Root { get; }

    public string ActivePath => Path.Combine(Root, ActiveLink);

    public string PathOf(SlotRef slot) => _links.PathOf(slot);

    /// <summary>Names that would collide with the layout's own entries; bundle names are checked by the bundle reader too.</summary>
    public static string? RefuseName(SlotRef slot) =>
        slot.Name is ActiveLink or PreviousLink or StateFile || slot.Name.StartsWith('.') || slot.Version.StartsWith('.')
        || slot.Name.Contains('/', StringComparison.Ordinal) || slot.Version.Contains('/', StringComparison.Ordinal)
            ? $"'{slot.Name}/{slot.Version}' cannot be a model slot: the name may not be '{ActiveLink}', '{PreviousLink}' or '{StateFile}', and neither part may start with '.' or contain '/'"
            : null;

    /// <summary>The links (what is served) with the state file's activation in progress and last failure.</summary>
    public SlotsReport Describe()
    {
        var state = Directory.Exists(Root) ? ReadState() : new SlotState();
        SlotInfo? Info(string link) => ReadLink(link) is { } slot ? new SlotInfo(slot.Name, slot.Version, PathOf(slot), IsComplete(slot)) : null;
        return new SlotsReport(Root, Info(ActiveLink), Info(PreviousLink), state.Pending, state.LastFailure);
    }

    public SlotState ReadState()
    {
        var path = Path.Combine(Root, StateFile);
        if (!File.Exists(path))
        {
            // Installed before slots.json existed (or by hand): the links are all there is.
            return new SlotState { Active = ReadLink(ActiveLink), Previous = ReadLink(PreviousLink) };
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), SlotJsonContext.Default.SlotState) ?? new SlotState();
        }
        catch (JsonException ex)
        {
            // Written by rename, so never half a file; a hand-edited one is replaced by what the links say.
            throw new InvalidDataException($"{path} is not valid slot state ({ex.Message}); delete it to rebuild it from the active and previous links", ex);
        }
    }

    public void WriteState(SlotState state)
    {
        DurableFile.Replace(Path.Combine(Root, StateFile), stream => JsonSerializer.Serialize(stream, state, SlotJsonContext.Default.SlotState));
    }

    /// <summary>The slot a link names, or null when the link is missing, is not a link, or names no <c>NAME/VERSION</c>.</summary>
    public SlotRef? ReadLink(string link) => _links.Read(link);

    /// <summary>Points <paramref name="link"/> at <paramref name="slot"/> atomically (null removes it).</summary>
    public void SetLink(string link, SlotRef? slot) => _links.Set(link, slot);

    /// <summary>Whether the slot's folder holds a model (a complete slot: it was made by one rename).</summary>
    public bool IsComplete(SlotRef slot) => File.Exists(Path.Combine(PathOf(slot), "genai_config.json"));

    /// <summary>Deletes a slot folder (and its NAME folder when that is left empty).</summary>
    public void DeleteSlot(SlotRef slot) => _links.DeleteSlot(slot);

    /// <summary>Temp links and state files left by a crash.</summary>
    public void DeleteLeftovers() => _links.DeleteTemporaries();
}

/// <summary>Small state files replaced whole: written to <c>NAME.tmp-RANDOM</c>, flushed to disk, renamed over the old one.</summary>
internal static class DurableFile
{
    public static void Replace(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp-" + RandomSuffix();
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
        {
            write(stream);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }

    public static string RandomSuffix() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
}
