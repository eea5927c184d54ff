using System.Diagnostics;
using System.Globalization;

namespace EdgeLlm.Cli.Doctor;

/// <summary>The Jetson's L4T release, its CUDA libraries and the GPU device nodes.</summary>
internal sealed record JetsonReport(string? Release, string? Revision, string? Board, string? ReleaseText, IReadOnlyList<string> CudaLibraries, IReadOnlyList<string> DeviceNodes);

/// <summary>Sensor buses a sensor definition can name.</summary>
internal sealed record DeviceNodes(IReadOnlyList<string> GpioChips, IReadOnlyList<string> I2cBuses, IReadOnlyList<string> IioDevices);

/// <summary>
/// Reads what the machine is from files under a root (<c>/</c> on a device; a fixture tree in tests): /proc/cpuinfo,
/// /proc/meminfo, the cgroup memory limit, /etc/nv_tegra_release, CUDA libraries, accelerator and sensor device nodes.
/// </summary>
internal sealed class DeviceProbe(string root)
{
    // Where the NPUs of current edge boards appear: Rockchip, VeriSilicon/Amlogic, Coral Edge TPU, Linux accel (Intel NPU, Hailo-10), Hailo-8.
    private static readonly string[] NpuPatterns = ["rknpu", "vipnano", "galcore", "apex_*", "accel/accel*", "hailo*"];
    private static readonly string[] CudaPatterns = ["libcudart.so*", "libcublas*.so*", "libcudnn*.so*"];
    private static readonly string[] LdconfigPaths = ["/sbin/ldconfig", "/usr/sbin/ldconfig"];

    public string Root { get; } = root;

    public bool IsRealRoot => Path.GetFullPath(Root) == "/";

    public CpuInfo Cpu() => File.Exists(At("proc/cpuinfo")) ? CpuInfo.Parse(File.ReadLines(At("proc/cpuinfo"))) : new CpuInfo(null, new HashSet<string>(), 0);

    public MemInfo Memory() => MemInfo.Parse(File.ReadLines(At("proc/meminfo")));

    /// <summary>The memory limit of this process's cgroup (v2 memory.max, else v1 memory.limit_in_bytes); null when unlimited.</summary>
    public long? CgroupLimitBytes()
    {
        foreach (var file in new[] { "sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes" })
        {
            if (!File.Exists(At(file)))
            {
                continue;
            }

            var text = File.ReadAllText(At(file)).Trim();
            if (text == "max")
            {
                return null;
            }

            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes))
            {
                throw new FormatException($"/{file}: '{text}' is neither 'max' nor a number of bytes");
            }

            // cgroup v1 says "no limit" with a huge number (LONG_MAX rounded down to a page).
            return bytes < long.MaxValue / 2 ? bytes : null;
        }

        return null;
    }

    /// <summary>Null when nothing says this is a Jetson (no nv_tegra_release, no nvhost/nvmap nodes).</summary>
    public JetsonReport? Jetson()
    {
        var releaseFile = At("etc/nv_tegra_release");
        var release = File.Exists(releaseFile) ? TegraRelease.Parse(File.ReadAllText(releaseFile)) : null;
        var nodes = Find("dev", "nvhost-*").Concat(Find("dev", "nvmap")).ToList();
        if (release is null && nodes.Count == 0)
        {
            return null;
        }

        return new JetsonReport(release?.Release, release?.Revision, release?.Board, release?.Text, CudaLibraries(), nodes);
    }

    /// <summary>CUDA runtime, cuBLAS and cuDNN libraries in the CUDA and multiarch folders, and in ld.so.cache on the real root.</summary>
    public IReadOnlyList<string> CudaLibraries()
    {
        var folders = Directory.Exists(At("usr/local"))
            ? Directory.EnumerateDirectories(At("usr/local"), "cuda*").Select(d => Path.Combine(d, "lib64"))
            : [];
        var found = folders.Append(At("usr/lib/aarch64-linux-gnu")).Append(At("usr/lib/x86_64-linux-gnu"))
            .Where(Directory.Exists)
            .SelectMany(d => CudaPatterns.SelectMany(p => Directory.EnumerateFiles(d, p)))
            .Select(Shown)
            .ToHashSet(StringComparer.Ordinal);
        if (IsRealRoot)
        {
            found.UnionWith(LdCache().Where(path => CudaPatterns.Any(p => FileNameMatches(Path.GetFileName(path), p))));
        }

        return found.Order(StringComparer.Ordinal).ToList();
    }

    public IReadOnlyList<string> NpuNodes() => NpuPatterns.SelectMany(p => Find("dev", p)).Distinct().Order(StringComparer.Ordinal).ToList();

    public DeviceNodes SensorNodes() => new(
        Find("dev", "gpiochip*").ToList(),
        Find("dev", "i2c-*").ToList(),
        Find("sys/bus/iio/devices", "iio:device*").ToList());

    /// <summary>The library paths <c>ldconfig -p</c> lists; none when ldconfig is missing or slow.</summary>
    private static List<string> LdCache()
    {
        var ldconfig = LdconfigPaths.FirstOrDefault(File.Exists);
        if (ldconfig is null)
        {
            return [];
        }

        using var process = Process.Start(new ProcessStartInfo(ldconfig, "-p") { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            process.Kill();
            return [];
        }

        return output.GetAwaiter().GetResult().Split('\n')
            .Select(l => l.Split("=>", 2, StringSplitOptions.TrimEntries))
            .Where(kv => kv.Length == 2 && kv[1].StartsWith('/'))
            .Select(kv => kv[1])
            .ToList();
    }

    private static bool FileNameMatches(string name, string pattern) => System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(pattern, name);

    /// <summary>Entries (files, device nodes, links) matching <paramref name="pattern"/> in a folder under the root, shown as absolute paths.</summary>
    private IEnumerable<string> Find(string folder, string pattern)
    {
        var sub = Path.GetDirectoryName(pattern);
        var dir = At(string.IsNullOrEmpty(sub) ? folder : Path.Combine(folder, sub));
        return Directory.Exists(dir)
            ? Directory.EnumerateFileSystemEntries(dir, Path.GetFileName(pattern)).Select(Shown).Order(StringComparer.Ordinal)
            : [];
    }

    private string At(string relative) => Path.Combine(Root, relative);

    // Paths read the way they are on the device, whatever the root.
    private string Shown(string path) => "/" + Path.GetRelativePath(Root, path).Replace('\\', '/');
}
