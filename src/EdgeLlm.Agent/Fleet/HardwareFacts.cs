using System.Runtime.InteropServices;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Agent.Fleet;

/// <summary>What a device tells the fleet server about itself when it enrolls.</summary>
internal static class HardwareFacts
{
    /// <summary>Device nodes of accelerators and the name each is reported as.</summary>
    private static readonly (string Pattern, string Name)[] Nodes =
    [
        ("dev/nvidia*", "cuda"),
        ("etc/nv_tegra_release", "tegra"),
        ("dev/nvhost-*", "tegra"),
        ("dev/accel/accel*", "npu"),
        ("dev/rknpu*", "npu"),
        ("dev/galcore", "npu"),
        ("dev/apex_*", "edgetpu"),
        ("dev/hailo*", "hailo"),
    ];

    /// <summary>Facts of this machine; <paramref name="root"/> is the file system root accelerators and meminfo are looked up under (tests point it at a fake tree).</summary>
    public static HardwareInfo Collect(string dataDir, string root = "/") => new()
    {
        Arch = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
        CpuCount = Environment.ProcessorCount,
        MemoryBytes = MemTotal(Path.Combine(root, "proc", "meminfo")) ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
        DiskBytes = DiskTotal(dataDir),
        Os = OsName(Path.Combine(root, "etc", "os-release")),
        AgentVersion = Mqtt.StatusBoard.Version,
        Accelerators = Accelerators(root),
    };

    public static IReadOnlyList<string> Accelerators(string root)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (pattern, name) in Nodes)
        {
            var dir = Path.Combine(root, Path.GetDirectoryName(pattern)!);
            var file = Path.GetFileName(pattern);
            try
            {
                if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir, file).Any())
                {
                    found.Add(name);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // An unreadable /dev entry says nothing either way.
            }
        }

        return [.. found];
    }

    private static long? MemTotal(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kb) ? kb * 1024 : null;
    }

    private static long DiskTotal(string dataDir)
    {
        // Before the first start the data directory may not exist yet: measure the nearest folder that does.
        var dir = new DirectoryInfo(Path.GetFullPath(dataDir));
        while (dir is { Exists: false })
        {
            dir = dir.Parent;
        }

        try
        {
            return dir is null ? 0 : new DriveInfo(dir.FullName).TotalSize;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static string OsName(string osRelease)
    {
        if (File.Exists(osRelease))
        {
            var pretty = File.ReadLines(osRelease).FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
            if (pretty is not null)
            {
                return pretty["PRETTY_NAME=".Length..].Trim('"');
            }
        }

        return RuntimeInformation.OSDescription;
    }
}
