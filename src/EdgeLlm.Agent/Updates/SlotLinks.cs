namespace EdgeLlm.Agent.Updates;

/// <summary>
/// <c>NAME/VERSION/</c> slot folders under <see cref="Root"/> and the relative symlinks (<c>active</c>, <c>previous</c>)
/// that name them, switched atomically: a temporary link <c>.LINK.tmp-RANDOM</c> is created and renamed over the old one
/// with rename(2) (<see cref="File.Replace(string, string, string?)"/> replaces the link itself, never its target;
/// <see cref="File.Move(string, string, bool)"/> refuses a link to a directory). The rename is the commit point: a crash
/// leaves the old link or the new one, and at worst a temporary link that <see cref="DeleteTemporaries"/> removes.
/// Model slots (<see cref="ModelSlots"/>) and config slots (<see cref="ConfigSlots"/>) share it.
/// </summary>
internal sealed class SlotLinks(string root, string manageHint)
{
    public string Root { get; } = root;

    public string PathOf(SlotRef slot)
    {
        ArgumentNullException.ThrowIfNull(slot);
        return Path.Combine(Root, slot.Name, slot.Version);
    }

    /// <summary>The slot a link names, or null when the link is missing, is not a link, or names no <c>NAME/VERSION</c>.</summary>
    public SlotRef? Read(string link)
    {
        var target = new FileInfo(Path.Combine(Root, link)).LinkTarget;
        if (target is null || Path.IsPathRooted(target))
        {
            return null;
        }

        var parts = target.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 2 ? new SlotRef(parts[0], parts[1]) : null;
    }

    /// <summary>Points <paramref name="link"/> at <paramref name="slot"/> atomically (null removes it).</summary>
    public void Set(string link, SlotRef? slot)
    {
        var path = Path.Combine(Root, link);
        var exists = new FileInfo(path).LinkTarget is not null;
        if (!exists && (Directory.Exists(path) || File.Exists(path)))
        {
            throw new IOException($"{path} is a real folder or file, not a link; {manageHint}");
        }

        if (slot is null)
        {
            if (exists)
            {
                File.Delete(path);
            }

            return;
        }

        if (!exists)
        {
            // symlink(2) creates the name atomically: there is no old link to replace.
            Directory.CreateDirectory(Root);
            File.CreateSymbolicLink(path, slot.Relative);
            return;
        }

        var temp = Path.Combine(Root, "." + link + ".tmp-" + DurableFile.RandomSuffix());
        File.CreateSymbolicLink(temp, slot.Relative);
        File.Replace(temp, path, destinationBackupFileName: null);
    }

    /// <summary>Deletes a slot folder (and its NAME folder when that is left empty).</summary>
    public void DeleteSlot(SlotRef slot)
    {
        var path = PathOf(slot);
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }

        var parent = Path.Combine(Root, slot.Name);
        if (Directory.Exists(parent) && !Directory.EnumerateFileSystemEntries(parent).Any())
        {
            Directory.Delete(parent);
        }
    }

    /// <summary>Temp links and state files left by a crash.</summary>
    public void DeleteTemporaries()
    {
        if (!Directory.Exists(Root))
        {
            return;
        }

        foreach (var entry in Directory.EnumerateFileSystemEntries(Root, "*.tmp-*"))
        {
            File.Delete(entry);
        }
    }
}
