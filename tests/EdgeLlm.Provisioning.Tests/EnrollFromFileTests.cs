using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Provisioning.Tests;

/// <summary>`edgellm enroll --from-file --delete-after` (the unit's ExecStartPre=) against the real fleet server.</summary>
public sealed class EnrollFromFileTests
{
    private static Task<(int Exit, string Stdout, string Stderr)> EdgellmAsync(params string[] args) =>
        Shell.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "device", "edgellm.dll"), .. args]);

    [Fact]
    public async Task Token_file_enrolls_once_is_deleted_and_failures_never_block_the_start()
    {
        using var dir = TestPaths.NewTempDir();
        await using var server = await FleetServerProcess.StartAsync(new FleetServerStart { DataDir = Path.Combine(dir.Path, "fleet") }, CancellationToken.None);
        using var admin = new HttpClient { BaseAddress = server.BaseUri };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.AdminKey);
        using var created = await admin.PostAsJsonAsync(FleetRoutes.Tokens, new CreateTokenRequest { Uses = 1 }, FleetJsonContext.Default.CreateTokenRequest);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var token = (await created.Content.ReadFromJsonAsync(FleetJsonContext.Default.EnrollmentToken))!.Token!;
        var url = server.BaseUri.ToString().TrimEnd('/');

        var data = Directory.CreateDirectory(Path.Combine(dir.Path, "data")).FullName;
        var tokenFile = Path.Combine(data, "enroll.json");
        await File.WriteAllTextAsync(tokenFile, $$"""{"server": "{{url}}", "token": "{{token}}", "device_id": "first-boot-1"}""");
        var (exit, stdout, stderr) = await EdgellmAsync("enroll", "--from-file", tokenFile, "--delete-after", "--data-dir", data);
        Assert.True(exit == 0, stderr);
        Assert.Contains("first-boot-1", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(data, "fleet.json")));
        Assert.False(File.Exists(tokenFile));

        // Every later start: no token file, nothing to do.
        (exit, _, stderr) = await EdgellmAsync("enroll", "--from-file", tokenFile, "--delete-after", "--data-dir", data);
        Assert.True(exit == 0, stderr);

        // A used-up token is refused: exit 1 (the unit's "-" still starts the agent) and the file stays.
        var other = Directory.CreateDirectory(Path.Combine(dir.Path, "other")).FullName;
        var otherToken = Path.Combine(other, "enroll.json");
        await File.WriteAllTextAsync(otherToken, $$"""{"server": "{{url}}", "token": "{{token}}", "device_id": "first-boot-2"}""");
        (exit, _, stderr) = await EdgellmAsync("enroll", "--from-file", otherToken, "--delete-after", "--data-dir", other);
        Assert.Equal(1, exit);
        Assert.Contains("refused the enrollment token", stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(otherToken));
        Assert.False(File.Exists(Path.Combine(other, "fleet.json")));

        // No server: a warning and exit 0, the file stays for the next start.
        var dead = $"http://127.0.0.1:{FleetServerProcess.FreePort().ToString(CultureInfo.InvariantCulture)}";
        await File.WriteAllTextAsync(otherToken, $$"""{"server": "{{dead}}", "token": "{{token}}", "device_id": "first-boot-2"}""");
        (exit, _, stderr) = await EdgellmAsync("enroll", "--from-file", otherToken, "--delete-after", "--data-dir", other);
        Assert.True(exit == 0, stderr);
        Assert.Contains("warning: not enrolled yet", stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(otherToken));

        // A malformed file names itself.
        await File.WriteAllTextAsync(otherToken, """{"token": 5}""");
        (exit, _, stderr) = await EdgellmAsync("enroll", "--from-file", otherToken, "--data-dir", other);
        Assert.Equal(1, exit);
        Assert.Contains("has no \"server\" string", stderr, StringComparison.Ordinal);
    }
}
