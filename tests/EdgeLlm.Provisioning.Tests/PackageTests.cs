using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Provisioning.Tests;

/// <summary>The .deb (dpkg-deb) and install.sh/uninstall.sh, each on a scratch root: nothing of the host changes.</summary>
[Collection(PublishGroup.Name)]
public sealed class PackageTests(PublishFixture publish)
{
    private static string Provisioning(string path) => Path.Combine(TestPaths.RepoRoot, "provisioning", path);

    private static Task<string> DpkgAsync(string root, params string[] args) =>
        Shell.CheckAsync("dpkg", [$"--root={root}", "--force-not-root", "--force-script-chrootless", "--force-depends", .. args]);

    [Fact]
    public async Task Deb_lists_the_layout_installs_idempotently_and_purge_alone_removes_data_and_user()
    {
        using var outDir = TestPaths.NewTempDir();
        var deb = (await Shell.CheckAsync(Provisioning("deb/build-deb.sh"), "--rid", PublishFixture.Rid, "--publish-dir", publish.PublishDir, "--out", outDir.Path)).Trim();
        var listing = await Shell.CheckAsync("dpkg-deb", "-c", deb);
        foreach (var path in new[] { "./opt/edgellm/edgellm", "./opt/edgellm/libonnxruntime.so", "./opt/edgellm/libe_sqlite3.so", "./lib/systemd/system/edgellm-agent.service", "./etc/edgellm/agent.json", "./usr/bin/edgellm -> ../../opt/edgellm/edgellm", "./opt/edgellm/provisioning/take-boot-token.sh" })
        {
            Assert.Contains(path, listing, StringComparison.Ordinal);
        }

        Assert.Equal("/etc/edgellm/agent.json", (await ConffilesAsync(deb)).Trim());

        using var root = Shell.NewScratchRoot();
        foreach (var dir in new[] { "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log" })
        {
            Directory.CreateDirectory(Path.Combine(root.Path, dir));
        }

        File.WriteAllText(Path.Combine(root.Path, "var/lib/dpkg/status"), "");
        await Shell.CheckAsync("dpkg", $"--root={root.Path}", "--add-architecture", "arm64");
        await DpkgAsync(root.Path, "-i", deb);
        await AssertInstalledAsync(root.Path);
        var first = Shell.Manifest(root.Path);
        await DpkgAsync(root.Path, "-i", deb);
        await AssertInstalledAsync(root.Path);
        Assert.Single(File.ReadAllLines(Path.Combine(root.Path, "etc/passwd")), l => l.StartsWith("edgellm:", StringComparison.Ordinal));
        Assert.Equal(Without(first, "var/lib/dpkg", "var/log"), Without(Shell.Manifest(root.Path), "var/lib/dpkg", "var/log"));

        // Remove: programs and unit go, the conffile, the data and the user stay.
        File.WriteAllText(Path.Combine(root.Path, "var/lib/edgellm/agent.db"), "data");
        await DpkgAsync(root.Path, "--remove", "edgellm");
        Assert.False(File.Exists(Path.Combine(root.Path, "opt/edgellm/edgellm")));
        Assert.False(File.Exists(Path.Combine(root.Path, "lib/systemd/system/edgellm-agent.service")));
        Assert.False(File.Exists(Path.Combine(root.Path, "etc/systemd/system/multi-user.target.wants/edgellm-agent.service")));
        Assert.True(File.Exists(Path.Combine(root.Path, "etc/edgellm/agent.json")));
        Assert.True(File.Exists(Path.Combine(root.Path, "var/lib/edgellm/agent.db")));
        Assert.Contains(File.ReadAllLines(Path.Combine(root.Path, "etc/passwd")), l => l.StartsWith("edgellm:", StringComparison.Ordinal));

        await DpkgAsync(root.Path, "--purge", "edgellm");
        Assert.False(Directory.Exists(Path.Combine(root.Path, "var/lib/edgellm")));
        Assert.False(Directory.Exists(Path.Combine(root.Path, "etc/edgellm")));
        Assert.DoesNotContain(File.ReadAllLines(Path.Combine(root.Path, "etc/passwd")), l => l.StartsWith("edgellm:", StringComparison.Ordinal));
        Assert.DoesNotContain(File.ReadAllLines(Path.Combine(root.Path, "etc/group")), l => l.StartsWith("edgellm:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Install_script_twice_changes_nothing_and_uninstall_keeps_only_data_unless_purge()
    {
        using var root = Shell.NewScratchRoot();
        string[] install =
        [
            "--root", root.Path, "--rid", PublishFixture.Rid, "--publish-dir", publish.PublishDir,
            "--config", Provisioning("config/fleet-device.json"), "--model-memory-mb", "600", "--model-disk-mb", "400",
            "--enroll-token", "eet_test", "--server", "http://127.0.0.1:9", "--device-id", "dev-1",
        ];
        var stdout = await Shell.CheckAsync(Provisioning("install.sh"), install);
        Assert.Contains("Next steps", stdout, StringComparison.Ordinal);
        await AssertInstalledAsync(root.Path);
        Assert.Contains("MemoryMax=1368M", File.ReadAllText(Path.Combine(root.Path, "etc/systemd/system/edgellm-agent.service.d/memory.conf")), StringComparison.Ordinal);
        Assert.Contains("\"token\": \"eet_test\"", File.ReadAllText(Path.Combine(root.Path, "var/lib/edgellm/enroll.json")), StringComparison.Ordinal);
        Assert.Contains("edgellm", File.ReadAllLines(Path.Combine(root.Path, "etc/group")).Single(l => l.StartsWith("gpio:", StringComparison.Ordinal)), StringComparison.Ordinal);
        var first = Shell.Manifest(root.Path);

        await Shell.CheckAsync(Provisioning("install.sh"), install);
        Assert.Equal(first, Shell.Manifest(root.Path));

        // An architecture the publish is not for is refused before anything is written.
        using var other = Shell.NewScratchRoot();
        var (exit, _, stderr) = await Shell.RunAsync(Provisioning("install.sh"), ["--root", other.Path, "--rid", "linux-x64", "--publish-dir", publish.PublishDir]);
        Assert.Equal(2, exit);
        Assert.Contains("not a publish for linux-x64", stderr, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(root.Path, "var/lib/edgellm/agent.db"), "data");
        await Shell.CheckAsync(Provisioning("uninstall.sh"), "--root", root.Path);
        // Only the data and the user database are left (no file, no link).
        string[] kept = ["var/lib/edgellm/", "etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"];
        Assert.DoesNotContain(
            Directory.EnumerateFiles(root.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root.Path, f)),
            f => !kept.Any(k => f.StartsWith(k, StringComparison.Ordinal)));
        Assert.True(File.Exists(Path.Combine(root.Path, "var/lib/edgellm/agent.db")));

        await Shell.CheckAsync(Provisioning("uninstall.sh"), "--root", root.Path, "--purge");
        Assert.False(Directory.Exists(Path.Combine(root.Path, "var/lib/edgellm")));
        Assert.DoesNotContain(File.ReadAllLines(Path.Combine(root.Path, "etc/passwd")), l => l.StartsWith("edgellm:", StringComparison.Ordinal));
    }

    private static async Task AssertInstalledAsync(string root)
    {
        foreach (var file in new[] { "opt/edgellm/edgellm", "opt/edgellm/libonnxruntime.so", "lib/systemd/system/edgellm-agent.service", "etc/edgellm/agent.json" })
        {
            Assert.True(File.Exists(Path.Combine(root, file)), $"{file} is missing");
        }

        Assert.True(new FileInfo(Path.Combine(root, "etc/systemd/system/multi-user.target.wants/edgellm-agent.service")).LinkTarget is not null, "the unit is not enabled");
        var data = Path.Combine(root, "var/lib/edgellm");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute, File.GetUnixFileMode(data));
        var uid = File.ReadAllLines(Path.Combine(root, "etc/passwd")).Single(l => l.StartsWith("edgellm:", StringComparison.Ordinal)).Split(':')[2];
        Assert.Equal(uid, (await Shell.CheckAsync("stat", "-c", "%u", data)).Trim());
    }

    private static async Task<string> ConffilesAsync(string deb)
    {
        using var dir = TestPaths.NewTempDir();
        await Shell.CheckAsync("dpkg-deb", "--control", deb, dir.Path);
        return await File.ReadAllTextAsync(Path.Combine(dir.Path, "conffiles"));
    }

    private static SortedDictionary<string, string> Without(SortedDictionary<string, string> manifest, params string[] prefixes) =>
        new(manifest.Where(e => !prefixes.Any(p => e.Key.StartsWith(p, StringComparison.Ordinal))).ToDictionary(), StringComparer.Ordinal);
}
