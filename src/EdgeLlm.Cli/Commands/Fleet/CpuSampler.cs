using System.Diagnostics;
using System.Globalization;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>
/// CPU time of this process, of watched processes (each with all its descendants, e.g. a postmaster and its backends)
/// and of the whole machine, from /proc. Where /proc is missing the watched figures are empty.
/// </summary>
internal sealed class CpuSampler(IReadOnlyDictionary<string, int> watched)
{
    // Linux reports /proc times in USER_HZ, which is 100 on every architecture it runs on (x86, ARM).
    private const double TicksPerSecond = 100;

    public CpuSample Take()
    {
        var self = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        var processes = ReadProcesses();
        var byName = watched.ToDictionary(w => w.Key, w => SubtreeSeconds(processes, w.Value));
        var (busy, total) = ReadMachine();
        return new CpuSample(Stopwatch.GetTimestamp(), self, byName, busy, total);
    }

    /// <summary>Percent of one core used between two samples (100 = one core busy all the time).</summary>
    public static CpuFigures Between(CpuSample a, CpuSample b)
    {
        var seconds = Stopwatch.GetElapsedTime(a.Timestamp, b.Timestamp).TotalSeconds;
        double Percent(double cpu) => seconds <= 0 ? 0 : Math.Round(cpu / seconds * 100, 1);
        var machine = b.MachineTotal - a.MachineTotal <= 0 ? 0 : Math.Round((b.MachineBusy - a.MachineBusy) / (b.MachineTotal - a.MachineTotal) * 100, 1);
        return new CpuFigures(
            machine,
            Environment.ProcessorCount,
            Percent(b.SelfSeconds - a.SelfSeconds),
            b.Watched.ToDictionary(w => w.Key, w => Percent(w.Value - a.Watched.GetValueOrDefault(w.Key))));
    }

    private static double SubtreeSeconds(Dictionary<int, (int Parent, double Seconds)> processes, int root)
    {
        var total = 0.0;
        foreach (var (pid, info) in processes)
        {
            for (int at = pid, hops = 0; at > 1 && hops < 64; at = processes.TryGetValue(at, out var p) ? p.Parent : 0, hops++)
            {
                if (at == root)
                {
                    total += info.Seconds;
                    break;
                }
            }
        }

        return total;
    }

    private static Dictionary<int, (int Parent, double Seconds)> ReadProcesses()
    {
        var result = new Dictionary<int, (int, double)>();
        if (!Directory.Exists("/proc"))
        {
            return result;
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // The command name may hold spaces and parentheses: the fields start after the last ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                result[pid] = (parent, ticks / TicksPerSecond);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
            {
                // The process ended between listing and reading.
            }
        }

        return result;
    }

    private static (double Busy, double Total) ReadMachine()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First();
            var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var idle = values[3] + values[4];
            var total = values.Sum();
            return (total - idle, total);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or InvalidOperationException)
        {
            return (0, 0);
        }
    }
}

internal sealed record CpuSample(long Timestamp, double SelfSeconds, IReadOnlyDictionary<string, double> Watched, double MachineBusy, double MachineTotal);

/// <summary>CPU use over a stage: the machine's busy share of all its cores, and each process in percent of one core.</summary>
internal sealed record CpuFigures(double MachineBusyPercent, int Cores, double LoadgenPercent, IReadOnlyDictionary<string, double> WatchedPercent);
