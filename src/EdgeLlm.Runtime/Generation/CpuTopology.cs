using System.Globalization;

namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// How many threads inference should use by default: one per physical core. ONNX Runtime's own default is half the
/// hardware threads, which on a 2-core device leaves a core idle; a second thread on the same core (SMT) only adds
/// contention for the core's vector units.
/// </summary>
internal static class CpuTopology
{
    private static readonly Lazy<int> Physical = new(CountPhysicalCores);

    /// <summary>Physical cores available to this process (never more than <see cref="Environment.ProcessorCount"/>, which honours cgroup limits).</summary>
    public static int PhysicalCores => Physical.Value;

    private static int CountPhysicalCores()
    {
        var logical = Environment.ProcessorCount;
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path))
        {
            return logical;
        }

        try
        {
            return Math.Clamp(CountCores(File.ReadLines(path)) ?? logical, 1, logical);
        }
        catch (IOException)
        {
            return logical;
        }
        catch (UnauthorizedAccessException)
        {
            return logical;
        }
    }

    /// <summary>Distinct (physical id, core id) pairs in /proc/cpuinfo text; null when the file does not say (ARM, containers).</summary>
    internal static int? CountCores(IEnumerable<string> cpuinfo)
    {
        var cores = new HashSet<(int, int)>();
        int? package = null, core = null;
        foreach (var line in cpuinfo.Append(""))
        {
            if (line.Length == 0)
            {
                if (core is { } c)
                {
                    cores.Add((package ?? 0, c));
                }

                package = core = null;
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            var key = line[..colon].Trim();
            var ok = int.TryParse(line[(colon + 1)..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value);
            if (ok && key == "physical id")
            {
                package = value;
            }
            else if (ok && key == "core id")
            {
                core = value;
            }
        }

        return cores.Count == 0 ? null : cores.Count;
    }
}
