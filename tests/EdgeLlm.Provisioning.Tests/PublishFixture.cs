using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Provisioning.Tests;

/// <summary>
/// One <c>make publish RID=linux-arm64</c> for every test of the collection (the publish dominates this project's
/// time; out/artifacts/linux-arm64 keeps it incremental between runs). The package and install tests use it too:
/// an arm64 .deb installs into a dpkg root with arm64 added as a foreign architecture, and install.sh --rid.
/// </summary>
public sealed class PublishFixture : IAsyncLifetime
{
    public const string Rid = "linux-arm64";

    public string PublishDir { get; } = Path.Combine(TestPaths.RepoRoot, "out", "publish", Rid);

    public string MakeOutput { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var (exit, stdout, stderr) = await Shell.RunAsync("make", ["publish", $"RID={Rid}"], TimeSpan.FromMinutes(10));
        Assert.True(exit == 0, $"make publish RID={Rid} failed:\n{stdout}\n{stderr}");
        MakeOutput = stdout;
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

[CollectionDefinition(Name)]
public sealed class PublishGroup : ICollectionFixture<PublishFixture>
{
    public const string Name = "arm64 publish";
}
