using System.Globalization;
using System.Text.RegularExpressions;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Provisioning.Tests;

/// <summary>systemd-analyze (Debian's systemd) on provisioning/systemd/edgellm-agent.service.</summary>
public sealed partial class SystemdUnitTests
{
    /// <summary>The exposure docs/provisioning.md records is 1.6; this leaves room for a deliberate loosening only.</summary>
    private const double MaxExposure = 2.5;

    private static string Unit => Path.Combine(TestPaths.RepoRoot, "provisioning", "systemd", "edgellm-agent.service");

    /// <summary>
    /// A root holding the system's own units (verify follows the unit's dependencies) and executable stand-ins at the
    /// paths the unit runs, so that verify checks the real unit file without anything under the host's /opt.
    /// </summary>
    private static TempDir VerifyRoot()
    {
        var dir = TestPaths.NewTempDir();
        var units = Path.Combine(dir.Path, "usr", "lib", "systemd", "system");
        Directory.CreateDirectory(units);
        foreach (var file in Directory.EnumerateFiles("/usr/lib/systemd/system"))
        {
            File.Copy(file, Path.Combine(units, Path.GetFileName(file)));
        }

        File.CreateSymbolicLink(Path.Combine(dir.Path, "lib"), "usr/lib");
        var etc = Directory.CreateDirectory(Path.Combine(dir.Path, "etc", "systemd", "system")).FullName;
        File.Copy(Unit, Path.Combine(etc, "edgellm-agent.service"));
        foreach (var exe in new[] { "opt/edgellm/edgellm", "opt/edgellm/provisioning/take-boot-token.sh" })
        {
            var path = Path.Combine(dir.Path, exe);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "#!/bin/sh\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return dir;
    }

    [Fact]
    public async Task Unit_passes_systemd_analyze_verify()
    {
        using var root = VerifyRoot();
        var (exit, stdout, stderr) = await Shell.RunAsync("systemd-analyze", ["verify", $"--root={root.Path}", "edgellm-agent.service"]);
        Assert.True(exit == 0 && stderr.Length == 0, $"systemd-analyze verify: exit {exit}\n{stdout}\n{stderr}");
    }

    [Fact]
    public async Task Unit_exposure_score_stays_low()
    {
        using var root = VerifyRoot();
        var stdout = await Shell.CheckAsync("systemd-analyze", "security", "--offline=true", $"--root={root.Path}", "--no-pager", "edgellm-agent.service");
        var match = ExposureLine().Match(stdout);
        Assert.True(match.Success, stdout);
        var score = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(score < MaxExposure, $"exposure {score} is not below {MaxExposure}:\n{stdout}");
    }

    [Fact]
    public void Unit_has_the_service_contract_and_the_device_allow_list()
    {
        var text = File.ReadAllText(Unit);
        foreach (var line in new[]
        {
            "Type=notify", "WatchdogSec=", "Restart=on-failure", "StartLimitIntervalSec=", "StartLimitBurst=", "User=edgellm",
            "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "ReadWritePaths=/var/lib/edgellm",
            "DevicePolicy=closed", "DeviceAllow=char-gpiochip rw", "DeviceAllow=char-i2c rw", "DeviceAllow=char-iio rw",
            "DeviceAllow=char-nvhost-* rw", "DeviceAllow=char-nvidia* rw", "DeviceAllow=/dev/nvmap rw", "CapabilityBoundingSet=\n",
            "SystemCallFilter=@system-service", "RestrictAddressFamilies=", "MemoryMax=",
            "ExecStartPre=-/opt/edgellm/edgellm enroll --from-file /var/lib/edgellm/enroll.json --delete-after",
        })
        {
            Assert.Contains(line, text, StringComparison.Ordinal);
        }
    }

    [GeneratedRegex(@"Overall exposure level for edgellm-agent\.service: ([0-9.]+)")]
    private static partial Regex ExposureLine();
}
