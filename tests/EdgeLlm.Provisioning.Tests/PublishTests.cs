namespace EdgeLlm.Provisioning.Tests;

[Collection(PublishGroup.Name)]
public sealed class PublishTests(PublishFixture publish)
{
    [Fact]
    public async Task Arm64_publish_is_self_contained_with_aarch64_natives()
    {
        string[] natives = ["edgellm", "libonnxruntime.so", "libe_sqlite3.so", "libcoreclr.so", "libSystem.Native.so"];
        foreach (var name in natives)
        {
            var path = Path.Combine(publish.PublishDir, name);
            Assert.True(File.Exists(path), $"{name} is missing from {publish.PublishDir}");
            var description = await Shell.CheckAsync("file", "-b", path);
            Assert.Contains("ARM aarch64", description, StringComparison.Ordinal);
        }

        // Self-contained: the runtime is in the folder and no framework is looked up on the device.
        var runtimeConfig = await File.ReadAllTextAsync(Path.Combine(publish.PublishDir, "edgellm.runtimeconfig.json"));
        Assert.Contains("includedFrameworks", runtimeConfig, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(publish.PublishDir, "System.Private.CoreLib.dll")));
        // No symbols or other platforms' natives (a runtimes/ folder would mean a RID-less publish).
        Assert.Empty(Directory.GetFiles(publish.PublishDir, "*.pdb"));
        Assert.False(Directory.Exists(Path.Combine(publish.PublishDir, "runtimes")));
    }
}
