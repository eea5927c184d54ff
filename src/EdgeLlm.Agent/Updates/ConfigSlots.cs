namespace EdgeLlm.Agent.Updates;

/// <summary>
/// The config slots under <c>DATA_DIR/config/</c>: one <c>NAME/VERSION/agent.json</c> overlay per installed config bundle,
/// and the <c>active</c> and <c>previous</c> links (<see cref="SlotLinks"/>, the model slots' technique). The
/// <c>active</c> link is the truth about which overlay the agent's configuration loads (<see cref="Hosting.AgentHost"/>);
/// only the active and the previous slot are kept.
/// </summary>
internal sealed class ConfigSlots
{
    public const string FolderName = "config";
    public const string OverlayFile = "agent.json";
    public const string ActiveLink = "active";
    public const string PreviousLink = "previous";

    private readonly SlotLinks _links;

    public ConfigSlots(string dataDir)
    {
        Root = Path.Combine(Path.GetFullPath(dataDir), FolderName);
        _links = new SlotLinks(Root, "install config overlays as config bundles and let the agent manage the link");
    }

    /// <summary><c>DATA_DIR/config</c>.</summary>
    public string Root { get; }

    /// <summary>The slot the agent's configuration loads, or null (no overlay: the device file alone).</summary>
    public SlotRef? Active => _links.Read(ActiveLink);

    /// <summary>The slot kept for rollback, or null.</summary>
    public SlotRef? Previous => _links.Read(PreviousLink);

    public string FileOf(SlotRef slot) => Path.Combine(_links.PathOf(slot), OverlayFile);

    /// <summary>The overlay file the configuration of an agent with data directory <paramref name="dataDir"/> loads, or null.</summary>
    public static string? ActiveOverlay(string dataDir) => new ConfigSlots(dataDir).ActiveFile;

    /// <summary>The active slot's overlay file, or null when there is none.</summary>
    public string? ActiveFile => FileIfPresent(Active);

    public string? FileIfPresent(SlotRef? slot) => slot is not null && File.Exists(FileOf(slot)) ? FileOf(slot) : null;

    /// <summary>
    /// Makes <paramref name="slot"/> active and keeps <paramref name="previous"/>: <c>previous</c> first, so a crash between
    /// the two renames leaves the old overlay active.
    /// </summary>
    public void Switch(SlotRef slot, SlotRef? previous)
    {
        _links.Set(PreviousLink, previous);
        _links.Set(ActiveLink, slot);
    }

    /// <summary>Undoes <see cref="Switch"/>: <c>active</c> first, so a crash between the two renames leaves the old overlay active.</summary>
    public void Revert(SlotRef? active, SlotRef? previous)
    {
        _links.Set(ActiveLink, active);
        _links.Set(PreviousLink, previous);
    }

    /// <summary>
    /// Slot folders neither link names (a crash between the copy and the switch, a failed install) and temporary links.
    /// Call at start, and after each install.
    /// </summary>
    public int DeleteLeftovers()
    {
        if (!Directory.Exists(Root))
        {
            return 0;
        }

        _links.DeleteTemporaries();
        var (active, previous, deleted) = (Active, Previous, 0);
        foreach (var name in Directory.EnumerateDirectories(Root).Where(d => new FileInfo(d).LinkTarget is null))
        {
            foreach (var version in Directory.EnumerateDirectories(name))
            {
                var slot = new SlotRef(Path.GetFileName(name), Path.GetFileName(version));
                if (slot != active && slot != previous)
                {
                    _links.DeleteSlot(slot);
                    deleted++;
                }
            }

            if (Directory.Exists(name) && !Directory.EnumerateFileSystemEntries(name).Any())
            {
                Directory.Delete(name);
            }
        }

        return deleted;
    }
}
