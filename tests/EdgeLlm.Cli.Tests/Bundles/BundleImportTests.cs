using System.Text.Json;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Cli.Tests.Bundles;

/// <summary>`edgellm bundle import` (air-gapped updates) run as the real executable against a stopped agent's data directory.</summary>
public sealed class BundleImportTests : IClassFixture<TinyModelFixture>, IDisposable
{
    private readonly TinyModelFixture _model;
    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly BundleSigningKey _key = BundleSigningKey.Generate();
    private readonly BundleSigningKey _other = BundleSigningKey.Generate();

    public BundleImportTests(TinyModelFixture model)
    {
        _model = model;
        File.WriteAllText(PublicKey, _key.ExportPublicKeyPem());
        File.WriteAllText(Config, JsonSerializer.Serialize(new { Agent = new { AllowSynthesizedModel = true, MaxTokens = 16 }, Updates = new { TrustedKeys = new[] { PublicKey } } }));
    }

    private string DataDir => Path.Combine(_dir.Path, "data");

    private string PublicKey => Path.Combine(_dir.Path, "publisher.pub");

    private string Config => Path.Combine(_dir.Path, "agent.json");

    public void Dispose()
    {
        _key.Dispose();
        _other.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Importing_two_versions_makes_the_second_active_and_keeps_the_first_for_rollback()
    {
        var v1 = await BundleAsync("1.0.0", _key);
        var v2 = await BundleAsync("2.0.0", _key);

        var first = await Cli.RunAsync("bundle", "import", v1, "--data-dir", DataDir, "--config", Config, "--json");
        var second = await Cli.RunAsync("bundle", "import", v2, "--data-dir", DataDir, "--config", Config, "--trust", PublicKey, "--json");
        var info = (await Cli.RunAsync("model", "info", "--data-dir", DataDir, "--json")).Json();

        Assert.Equal("active", first.Json().GetProperty("state").GetString());
        Assert.Equal("2.0.0", second.Json().GetProperty("slots").GetProperty("active").GetProperty("version").GetString());
        Assert.Equal(("tiny", "2.0.0"), (info.GetProperty("active").GetProperty("name").GetString(), info.GetProperty("active").GetProperty("version").GetString()));
        Assert.Equal("1.0.0", info.GetProperty("previous").GetProperty("version").GetString());
        Assert.True(File.Exists(v1) && File.Exists(v2));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(DataDir, "staging")));
    }

    [Fact]
    public async Task A_bundle_signed_by_an_untrusted_key_exits_1_with_the_reason_and_the_active_model_is_unchanged()
    {
        Assert.Equal(0, (await Cli.RunAsync("bundle", "import", await BundleAsync("1.0.0", _key), "--data-dir", DataDir, "--config", Config)).ExitCode);
        var hostile = await BundleAsync("2.0.0", _other);

        var refused = await Cli.RunAsync("bundle", "import", hostile, "--data-dir", DataDir, "--config", Config, "--json");
        var text = await Cli.RunAsync("bundle", "import", hostile, "--data-dir", DataDir, "--config", Config);
        var info = (await Cli.RunAsync("model", "info", "--data-dir", DataDir, "--json")).Json();

        Assert.Equal(1, refused.ExitCode);
        var error = JsonDocument.Parse(refused.Stderr).RootElement.GetProperty("error");
        Assert.Equal(("bundle_refused", "refused"), (error.GetProperty("code").GetString(), error.GetProperty("state").GetString()));
        Assert.StartsWith("unknown_key: ", error.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("refused: unknown_key", text.Stderr, StringComparison.Ordinal);
        Assert.Equal("1.0.0", info.GetProperty("active").GetProperty("version").GetString());
        Assert.False(Directory.Exists(Path.Combine(DataDir, "models", "tiny", "2.0.0")));
    }

    [Fact]
    public async Task Without_trust_in_the_switches_or_the_config_nothing_is_imported()
    {
        var result = await Cli.RunAsync("bundle", "import", await BundleAsync("1.0.0", _key), "--data-dir", DataDir);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no trusted publisher key", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(DataDir, "models")));
    }

    [Fact]
    public async Task A_manuals_bundle_is_imported_into_the_knowledge_index_and_listed_with_its_source()
    {
        var from = Path.Combine(_dir.Path, "manuals-src");
        Directory.CreateDirectory(from);
        File.WriteAllText(Path.Combine(from, "pump.md"), "# Pump P-100\n\nReplace the seal kit every 2000 hours of operation.\n");
        File.WriteAllText(Path.Combine(from, "valve.md"), "# Valve V-7\n\nTorque the bonnet bolts to 45 Nm in a star pattern.\n");
        var bundle = Path.Combine(_dir.Path, "plant-manuals.edgebundle");
        var file = File.Create(bundle);
        await using (file)
        {
            await BundleWriter.CreateAsync(new BundleCreateOptions { Kind = BundleKind.Manuals, Name = "plant-manuals", Version = "3.1.0" }, from, _key, file, TimeProvider.System, CancellationToken.None);
        }

        var imported = await Cli.RunAsync("bundle", "import", bundle, "--data-dir", DataDir, "--config", Config, "--json");
        var listed = await Cli.RunAsync("manuals", "list", "--data-dir", DataDir, "--config", Config, "--json");

        Assert.Equal(0, imported.ExitCode);
        Assert.Equal("active", imported.Json().GetProperty("state").GetString());
        var docs = listed.Json().GetProperty("documents").EnumerateArray().ToList();
        Assert.Equal(["pump.md", "valve.md"], docs.Select(d => d.GetProperty("document").GetString()).Order(StringComparer.Ordinal));
        Assert.All(docs, d => Assert.Equal(("plant-manuals", "3.1.0"), (d.GetProperty("source").GetProperty("name").GetString(), d.GetProperty("source").GetProperty("version").GetString())));
        Assert.False(Directory.Exists(Path.Combine(DataDir, "models")));
    }

    [Fact]
    public async Task A_config_bundle_made_with_bundle_create_is_imported_as_the_overlay_and_a_hostile_one_is_refused()
    {
        var publisher = Path.Combine(_dir.Path, "ops");
        Assert.Equal(0, (await Cli.RunAsync("keys", "generate", "--out", publisher)).ExitCode);
        async Task<(CliResult Created, string Bundle)> CreateAsync(string version, string json)
        {
            var from = Path.Combine(_dir.Path, "config-src-" + version);
            Directory.CreateDirectory(from);
            File.WriteAllText(Path.Combine(from, "agent.json"), json);
            var bundle = Path.Combine(_dir.Path, $"plant-a-{version}.edgebundle");
            var created = await Cli.RunAsync("bundle", "create", "--kind", "config", "--from", from, "--name", "plant-a", "--version", version,
                "--key", publisher + ".key", "--gzip", "--out", bundle, "--json");
            return (created, bundle);
        }

        var (created, good) = await CreateAsync("1.0.0", """{"Agent":{"MaxTokens":64},"Knowledge":{"TopK":5}}""");
        var (_, hostile) = await CreateAsync("2.0.0", """{"Agent":{"MaxTokens":64},"Updates":{"TrustedKeys":["/tmp/attacker.pub"]}}""");
        var imported = await Cli.RunAsync("bundle", "import", good, "--data-dir", DataDir, "--config", Config, "--trust", publisher + ".pub", "--json");
        var refused = await Cli.RunAsync("bundle", "import", hostile, "--data-dir", DataDir, "--config", Config, "--trust", publisher + ".pub", "--json");
        var text = await Cli.RunAsync("bundle", "import", good, "--data-dir", DataDir, "--config", Config, "--trust", publisher + ".pub");

        Assert.Equal(0, created.ExitCode);
        Assert.Equal("config", created.Json().GetProperty("manifest").GetProperty("kind").GetString());
        Assert.Equal(0, imported.ExitCode);
        var result = imported.Json();
        Assert.Equal("active", result.GetProperty("state").GetString());
        Assert.True(result.GetProperty("restart_required").GetBoolean());
        Assert.Equal("restart_required: Agent:MaxTokens, Knowledge:TopK take effect at the agent's next start", result.GetProperty("reason").GetString());
        var active = result.GetProperty("config").GetProperty("active");
        Assert.Equal(("plant-a", "1.0.0"), (active.GetProperty("name").GetString(), active.GetProperty("version").GetString()));
        Assert.True(File.Exists(Path.Combine(DataDir, "config", "plant-a", "1.0.0", "agent.json")));
        Assert.Equal(1, refused.ExitCode);
        var error = JsonDocument.Parse(refused.Stderr).RootElement.GetProperty("error");
        Assert.Equal(("bundle_refused", "invalid_config: Updates:TrustedKeys cannot be changed by a bundle"),
            (error.GetProperty("code").GetString(), error.GetProperty("reason").GetString()));
        Assert.False(Directory.Exists(Path.Combine(DataDir, "config", "plant-a", "2.0.0")));
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("plant-a 1.0.0 is the active config of", text.Stdout, StringComparison.Ordinal);
    }

    private async Task<string> BundleAsync(string version, BundleSigningKey key)
    {
        var path = Path.Combine(_dir.Path, $"tiny-{version}-{key.KeyId[..8]}.edgebundle");
        var options = new BundleCreateOptions
        {
            Kind = BundleKind.Model,
            Name = "tiny",
            Version = version,
            SmokeTest = new BundleSmokeTest { Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 4 }], TimeoutSeconds = 60 },
        };
        var file = File.Create(path);
        await using (file)
        {
            await BundleWriter.CreateAsync(options, _model.Folder, key, file, TimeProvider.System, CancellationToken.None);
        }

        return path;
    }
}
