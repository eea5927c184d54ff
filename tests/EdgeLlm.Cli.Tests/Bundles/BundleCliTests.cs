using System.CommandLine;
using System.Text.Json;
using EdgeLlm.Contracts.Bundles;

namespace EdgeLlm.Cli.Tests.Bundles;

/// <summary>`edgellm keys generate` and `edgellm bundle create|inspect|verify`, in process: exit codes, JSON shapes, messages.</summary>
public sealed class BundleCliTests : IDisposable
{
    private readonly BundleKit _kit = new();

    public void Dispose() => _kit.Dispose();

    [Fact]
    public async Task KeysGenerate_WritesPrivateKeyOwnerOnlyAndPublicKeyWithMatchingId()
    {
        var name = Path.Combine(_kit.Root, "keys", "publisher");
        var result = await RunAsync("keys", "generate", "--out", name, "--json");

        Assert.Equal(0, result.Exit);
        using var json = JsonDocument.Parse(result.Out);
        var keyId = json.RootElement.GetProperty("key_id").GetString()!;
        Assert.Contains("BEGIN PRIVATE KEY", File.ReadAllText(name + ".key"), StringComparison.Ordinal);
        Assert.Contains("BEGIN PUBLIC KEY", File.ReadAllText(name + ".pub"), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(name + ".key"));
        }

        using var key = BundleSigningKey.Load(name + ".key");
        Assert.Equal(key.KeyId, keyId);
        using var trust = BundleTrust.Load([name + ".pub"]);
        Assert.Equal([keyId], trust.KeyIds);
    }

    [Fact]
    public async Task KeysGenerate_ExistingFiles_AreNotOverwritten()
    {
        var name = Path.Combine(_kit.Root, "publisher");
        Assert.Equal(0, (await RunAsync("keys", "generate", "--out", name)).Exit);
        var before = File.ReadAllText(name + ".key");

        var again = await RunAsync("keys", "generate", "--out", name);

        Assert.Equal(1, again.Exit);
        Assert.Contains("exists", again.Err, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText(name + ".key"));
    }

    [Fact]
    public async Task CreateInspectVerify_RoundTripThroughTheCli()
    {
        var (key, pub) = await KeysAsync("publisher");
        var smoke = Path.Combine(_kit.Root, "smoke.json");
        File.WriteAllText(smoke, """{"prompts":[{"prompt":"Belt tension?","max_tokens":16,"expect_substrings":["mm"]}],"min_tokens_per_s":4.5,"timeout_seconds":120}""");
        var bundle = Path.Combine(_kit.Root, "out", "qwen.edgebundle");

        var created = await RunAsync("bundle", "create", "--kind", "model", "--from", _kit.Source, "--name", "qwen-tiny", "--version", "1.2.0",
            "--key", key, "--licence", "Apache-2.0", "--smoke", smoke, "--min-memory", "1.5G", "--provider", "cpu", "--provider", "qnn", "--gzip",
            "--out", bundle, "--json");
        Assert.True(created.Exit == 0, created.Err);
        Assert.Equal([Path.GetFileName(bundle)], Directory.GetFiles(Path.GetDirectoryName(bundle)!).Select(Path.GetFileName));

        var inspected = await RunAsync("bundle", "inspect", bundle, "--json");
        Assert.Equal(0, inspected.Exit);
        using var json = JsonDocument.Parse(inspected.Out);
        var root = json.RootElement;
        Assert.False(root.GetProperty("verified").GetBoolean());
        Assert.True(root.GetProperty("compressed").GetBoolean());
        var manifest = root.GetProperty("manifest");
        Assert.Equal("model", manifest.GetProperty("kind").GetString());
        Assert.Equal("Apache-2.0", manifest.GetProperty("licence").GetString());
        Assert.Equal(3L << 29, manifest.GetProperty("runtime").GetProperty("min_memory_bytes").GetInt64());
        Assert.Equal(["cpu", "qnn"], manifest.GetProperty("runtime").GetProperty("execution_providers").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(4.5, manifest.GetProperty("smoke_test").GetProperty("min_tokens_per_s").GetDouble());
        Assert.Equal(3, manifest.GetProperty("files").GetArrayLength());

        var text = await RunAsync("bundle", "inspect", bundle);
        Assert.Contains("not verified", text.Out, StringComparison.Ordinal);
        Assert.Contains("weights/model.onnx", text.Out, StringComparison.Ordinal);

        var verified = await RunAsync("bundle", "verify", bundle, "--trust", pub);
        Assert.True(verified.Exit == 0, verified.Err);
        Assert.Contains("verified model qwen-tiny 1.2.0", verified.Out, StringComparison.Ordinal);
        Assert.Equal(root.GetProperty("key_id").GetString(), JsonDocument.Parse((await RunAsync("bundle", "verify", bundle, "--trust", pub, "--json")).Out)
            .RootElement.GetProperty("key_id").GetString());
    }

    [Fact]
    public async Task Verify_UntrustedKey_ExitsOneNamingTheKey_AndRotationAcceptsIt()
    {
        var (oldKey, oldPub) = await KeysAsync("old");
        var (newKey, newPub) = await KeysAsync("new");
        var bundle = await CreateAsync(newKey);
        using var signer = BundleSigningKey.Load(newKey);

        var refused = await RunAsync("bundle", "verify", bundle, "--trust", oldPub);
        Assert.Equal(1, refused.Exit);
        Assert.Contains("unknown_key", refused.Err, StringComparison.Ordinal);
        Assert.Contains(signer.KeyId, refused.Err, StringComparison.Ordinal);

        var refusedJson = await RunAsync("bundle", "verify", bundle, "--trust", oldPub, "--json");
        Assert.Equal(1, refusedJson.Exit);
        using var error = JsonDocument.Parse(refusedJson.Err);
        Assert.Equal("bundle_rejected", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("unknown_key", error.RootElement.GetProperty("error").GetProperty("reason").GetString());

        Assert.Equal(0, (await RunAsync("bundle", "verify", bundle, "--trust", oldPub, "--trust", newPub)).Exit);
        _ = oldKey;
    }

    [Fact]
    public async Task Verify_TamperedPayload_ExitsOneWithHashMismatch()
    {
        var (key, pub) = await KeysAsync("publisher");
        var bundle = await CreateAsync(key);
        var bytes = File.ReadAllBytes(bundle);
        bytes[^2048] ^= 0xff; // inside weights/model.onnx, the last and largest entry
        File.WriteAllBytes(bundle, bytes);

        var result = await RunAsync("bundle", "verify", bundle, "--trust", pub);

        Assert.Equal(1, result.Exit);
        Assert.Contains("hash_mismatch", result.Err, StringComparison.Ordinal);
        Assert.Contains("payload/weights/model.onnx", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_BadVersion_ExitsOneAndWritesNoFile()
    {
        var (key, _) = await KeysAsync("publisher");
        var bundle = Path.Combine(_kit.Root, "out", "x.edgebundle");

        var result = await RunAsync("bundle", "create", "--kind", "model", "--from", _kit.Source, "--name", "x", "--version", "1.0", "--key", key, "--out", bundle);

        Assert.Equal(1, result.Exit);
        Assert.Contains("semantic version", result.Err, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(bundle)!));
    }

    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("512M", 512L << 20)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("4k", 4096L)]
    public void ParseSize_AcceptsBytesAndBinarySuffixes(string text, long bytes) =>
        Assert.Equal(bytes, Commands.BundleCommand.ParseSize(text, "--min-memory"));

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("12X")]
    [InlineData("G")]
    public void ParseSize_RefusesOtherText(string text) =>
        Assert.Throws<ArgumentException>(() => Commands.BundleCommand.ParseSize(text, "--min-memory"));

    private static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliApp.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    private async Task<(string Key, string Pub)> KeysAsync(string name)
    {
        var path = Path.Combine(_kit.Root, name);
        Assert.Equal(0, (await RunAsync("keys", "generate", "--out", path)).Exit);
        return (path + ".key", path + ".pub");
    }

    private async Task<string> CreateAsync(string key)
    {
        var bundle = Path.Combine(_kit.Root, Guid.NewGuid().ToString("N") + ".edgebundle");
        var result = await RunAsync("bundle", "create", "--kind", "model", "--from", _kit.Source, "--name", "qwen-tiny", "--version", "1.0.0", "--key", key, "--out", bundle);
        Assert.True(result.Exit == 0, result.Err);
        return bundle;
    }
}
