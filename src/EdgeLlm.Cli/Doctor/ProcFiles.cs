using System.Globalization;

namespace EdgeLlm.Cli.Doctor;

/// <summary>
/// What /proc/cpuinfo says about the processor. x86 gives a model name and a <c>flags</c> line per processor;
/// arm64 gives <c>CPU part</c> numbers and a <c>Features</c> line instead, so the model is named from the parts.
/// </summary>
internal sealed record CpuInfo(string? ModelName, IReadOnlySet<string> Flags, int Processors)
{
    // The Arm Ltd. (implementer 0x41) parts found on current edge boards.
    private static readonly Dictionary<string, string> ArmParts = new(StringComparer.OrdinalIgnoreCase)
    {
        ["0xd03"] = "Cortex-A53", ["0xd04"] = "Cortex-A35", ["0xd05"] = "Cortex-A55", ["0xd07"] = "Cortex-A57",
        ["0xd08"] = "Cortex-A72", ["0xd09"] = "Cortex-A73", ["0xd0a"] = "Cortex-A75", ["0xd0b"] = "Cortex-A76",
        ["0xd0c"] = "Neoverse-N1", ["0xd0d"] = "Cortex-A77", ["0xd40"] = "Neoverse-V1", ["0xd41"] = "Cortex-A78",
        ["0xd42"] = "Cortex-A78AE", ["0xd44"] = "Cortex-X1", ["0xd46"] = "Cortex-A510", ["0xd47"] = "Cortex-A710",
        ["0xd49"] = "Neoverse-N2", ["0xd4f"] = "Neoverse-V2",
    };

    public static CpuInfo Parse(IEnumerable<string> lines)
    {
        string? model = null;
        var flags = new HashSet<string>(StringComparer.Ordinal);
        var parts = new List<string>();
        var processors = 0;
        foreach (var line in lines)
        {
            if (!ProcFiles.TrySplit(line, out var key, out var value))
            {
                continue;
            }

            switch (key)
            {
                case "processor":
                    processors++;
                    break;
                case "model name" or "Model name" or "Hardware" when model is null && value.Length > 0:
                    model = value;
                    break;
                case "flags" or "Features":
                    flags.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    break;
                case "CPU part":
                    parts.Add(ArmParts.TryGetValue(value, out var name) ? name : $"part {value}");
                    break;
            }
        }

        // On arm64 "model name" (where present) only says "ARMv8 Processor"; the part numbers name the cores.
        if (parts.Count > 0)
        {
            model = string.Join(" + ", parts.GroupBy(p => p).Select(g => $"{g.Count()}x {g.Key}"));
        }

        return new CpuInfo(model, flags, processors);
    }
}

/// <summary>MemTotal and MemAvailable from /proc/meminfo, in bytes (the file counts kB).</summary>
internal sealed record MemInfo(long TotalBytes, long AvailableBytes)
{
    public static MemInfo Parse(IEnumerable<string> lines)
    {
        long? total = null, available = null;
        foreach (var line in lines)
        {
            if (!ProcFiles.TrySplit(line, out var key, out var value) || key is not ("MemTotal" or "MemAvailable"))
            {
                continue;
            }

            var number = value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
            if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var kb) || kb > long.MaxValue / 1024)
            {
                throw new FormatException($"meminfo: '{line}' is not a number of kB");
            }

            if (key == "MemTotal")
            {
                total = kb * 1024;
            }
            else
            {
                available = kb * 1024;
            }
        }

        // MemAvailable exists since Linux 3.14; without it, the total is the best bound there is.
        return new MemInfo(
            total ?? throw new FormatException("meminfo: no MemTotal line"),
            available ?? total.Value);
    }
}

/// <summary>
/// /etc/nv_tegra_release of an NVIDIA Jetson (L4T), e.g.
/// <c># R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023</c>.
/// </summary>
internal sealed record TegraRelease(string Release, string? Revision, string? Board, string Text)
{
    public string Version => Revision is null ? Release : $"{Release}.{Revision}";

    public static TegraRelease Parse(string text)
    {
        var first = text.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith('#'))?.Trim().TrimStart('#').Trim()
            ?? throw new FormatException("nv_tegra_release: no '# R<n> (release), ...' line");
        var fields = first.Split(',', StringSplitOptions.TrimEntries);
        var release = fields[0].Split(' ')[0];
        if (release.Length < 2 || release[0] != 'R' || !release[1..].All(char.IsAsciiDigit))
        {
            throw new FormatException($"nv_tegra_release: '{first}' does not start with a release such as R35");
        }

        string? Field(string name) => fields.Skip(1)
            .Select(f => f.Split(':', 2, StringSplitOptions.TrimEntries))
            .FirstOrDefault(kv => kv.Length == 2 && kv[0] == name)?[1];
        return new TegraRelease(release, Field("REVISION"), Field("BOARD"), first);
    }
}

internal static class ProcFiles
{
    /// <summary>Splits a "key : value" line of /proc files; false for blank lines and lines without a colon.</summary>
    public static bool TrySplit(string line, out string key, out string value)
    {
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        key = colon < 0 ? "" : line[..colon].Trim();
        value = colon < 0 ? "" : line[(colon + 1)..].Trim();
        return colon > 0;
    }
}
