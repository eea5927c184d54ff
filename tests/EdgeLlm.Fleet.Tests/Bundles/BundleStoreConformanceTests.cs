using EdgeLlm.Fleet.Storage;

namespace EdgeLlm.Fleet.Tests.Storage;

/// <summary>The bundle registry's store methods, run on both stores with the rest of the conformance tests.</summary>
public abstract partial class FleetStoreConformanceTests
{
    [Fact]
    public async Task Bundles_AreAdded_Listed_AndFoundBySha256_WithConflictsRefused()
    {
        var v1 = Bundle("qwen", "1.0.0", 'a', T0);
        var v2 = Bundle("qwen", "1.1.0", 'b', T0.AddMinutes(1));
        var other = Bundle("manual-'; DROP TABLE bundles; --", "2.0.0", 'a', T0.AddMinutes(2));

        Assert.Equal(BundleAddOutcome.Added, await Store.AddBundleAsync(v1, CancellationToken.None));
        Assert.Equal(BundleAddOutcome.Added, await Store.AddBundleAsync(v2, CancellationToken.None));
        Assert.Equal(BundleAddOutcome.Added, await Store.AddBundleAsync(other, CancellationToken.None));
        Assert.Equal(BundleAddOutcome.AlreadyPresent, await Store.AddBundleAsync(v1 with { UploadedBy = "someone else" }, CancellationToken.None));
        Assert.Equal(BundleAddOutcome.Conflict, await Store.AddBundleAsync(v1 with { Sha256 = new string('c', 64) }, CancellationToken.None));

        Assert.Equal(v1, await Store.GetBundleAsync("qwen", "1.0.0", CancellationToken.None));
        Assert.Null(await Store.GetBundleAsync("qwen", "9.9.9", CancellationToken.None));
        Assert.Equal([other, v2, v1], await Store.ListBundlesAsync(null, CancellationToken.None));
        Assert.Equal([v2, v1], await Store.ListBundlesAsync("qwen", CancellationToken.None));
        Assert.Empty(await Store.ListBundlesAsync("nope", CancellationToken.None));
        Assert.Equal(v1, await Store.FindBundleBySha256Async(new string('a', 64), CancellationToken.None));
        Assert.Null(await Store.FindBundleBySha256Async(new string('c', 64), CancellationToken.None));
    }

    [Fact]
    public async Task Channels_PointAtRegisteredVersionsOnly_AndAreReplaced()
    {
        await Store.AddBundleAsync(Bundle("qwen", "1.0.0", 'a', T0), CancellationToken.None);
        await Store.AddBundleAsync(Bundle("qwen", "1.1.0", 'b', T0), CancellationToken.None);

        Assert.True(await Store.SetChannelAsync(new ChannelRecord("qwen", "stable", "1.0.0", T0, "ops"), CancellationToken.None));
        Assert.True(await Store.SetChannelAsync(new ChannelRecord("qwen", "beta", "1.0.0", T0, "ops"), CancellationToken.None));
        Assert.True(await Store.SetChannelAsync(new ChannelRecord("qwen", "beta", "1.1.0", T0.AddHours(1), "lead"), CancellationToken.None));
        Assert.False(await Store.SetChannelAsync(new ChannelRecord("qwen", "stable", "7.0.0", T0, "ops"), CancellationToken.None));
        Assert.False(await Store.SetChannelAsync(new ChannelRecord("nope", "stable", "1.0.0", T0, "ops"), CancellationToken.None));

        Assert.Equal(
            [new ChannelRecord("qwen", "beta", "1.1.0", T0.AddHours(1), "lead"), new ChannelRecord("qwen", "stable", "1.0.0", T0, "ops")],
            await Store.ListChannelsAsync("qwen", CancellationToken.None));
        Assert.Equal(2, (await Store.ListChannelsAsync(null, CancellationToken.None)).Count);
        Assert.Empty(await Store.ListChannelsAsync("nope", CancellationToken.None));
    }

    private static BundleRecord Bundle(string name, string version, char sha, DateTimeOffset at) =>
        new(name, version, "model", new string(sha, 64), 1234, "0123456789abcdef", """{"name":"x","nasty":"'\"; --"}""", at, "ops");
}
