using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Provisioning.Tests;

/// <summary>Runs real programs (make, dpkg, systemd-analyze, the provisioning scripts) to completion, bounded.</summary>
internal static class Shell
{
    public static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            UseShellExecute = false,
            WorkingDirectory = TestPaths.RepoRoot,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish in time:\n{await stdout}\n{await stderr}");
        }

        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs and asserts exit code 0, returning stdout.</summary>
    public static async Task<string> CheckAsync(string file, params string[] args)
    {
        // Packing or unpacking 125 MB on a loaded machine takes a while; the bound is against hangs only.
        var (exit, stdout, stderr) = await RunAsync(file, args, TimeSpan.FromMinutes(6));
        Assert.True(exit == 0, $"{file} {string.Join(' ', args)} exited {exit}:\n{stdout}\n{stderr}");
        return stdout;
    }

    /// <summary>Every path under a root with its type, mode, owner and content hash (or link target).</summary>
    public static SortedDictionary<string, string> Manifest(string root)
    {
        var manifest = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(path);
            var rel = Path.GetRelativePath(root, path);
            if (info.LinkTarget is { } target)
            {
                manifest[rel] = $"link {target}";
            }
            else if (Directory.Exists(path))
            {
                manifest[rel] = $"dir {File.GetUnixFileMode(path)}";
            }
            else
            {
                using var stream = File.OpenRead(path);
                manifest[rel] = $"file {File.GetUnixFileMode(path)} {Convert.ToHexString(SHA256.HashData(stream))}";
            }
        }

        return manifest;
    }

    /// <summary>A scratch root with the user database files useradd --prefix edits, and a gpio group.</summary>
    public static TempDir NewScratchRoot()
    {
        var dir = TestPaths.NewTempDir();
        var etc = Directory.CreateDirectory(Path.Combine(dir.Path, "etc")).FullName;
        File.WriteAllText(Path.Combine(etc, "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
        File.WriteAllText(Path.Combine(etc, "group"), "root:x:0:\ngpio:x:990:\n");
        File.WriteAllText(Path.Combine(etc, "shadow"), "root:*:19000:0:99999:7:::\n");
        File.WriteAllText(Path.Combine(etc, "gshadow"), "root:*::\ngpio:!::\n");
        return dir;
    }
}
