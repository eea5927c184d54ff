using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Knowledge;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>
/// Config bundles through the real import pipeline: signed bundles written with <see cref="BundleWriter"/>, verified and
/// unpacked into staging, checked against the agent's options classes, switched in under <c>config/</c>, and read back by
/// the configuration the agent host builds (<see cref="AgentHost.CreateBuilder"/>) over a real device file.
/// </summary>
public sealed class ConfigUpdateTests : IDisposable
{
    private const string Name = "plant-a";

    private const string V1 = """{"Agent":{"MaxTokens":256,"Temperature":0.2},"Knowledge":{"TopK":6}}""";

    private readonly SlotKit _kit = new(installBase: false);
    private readonly TempDir _files = TestPaths.NewTempDir();
    private readonly BundleSigningKey _key = BundleSigningKey.Generate();
    private readonly BundleTrust _trust = new();
    private readonly RecordingEvents _events = new();
    private readonly AgentSwitches _switches;
    private int _bundles;

    public ConfigUpdateTests()
    {
        _trust.Add(_key.ExportPublicKeyPem());
        var pub = Path.Combine(_files.Path, "publisher.pub");
        File.WriteAllText(pub, _key.ExportPublicKeyPem());
        var deviceFile = Path.Combine(_files.Path, "agent.json");
        File.WriteAllText(deviceFile, JsonSerializer.Serialize(new
        {
            Agent = new { DataDir, Model = AgentOptions.NoModel, MaxTokens = 512, Temperature = 0.7 },
            Knowledge = new { TopK = 3 },
            Updates = new { TrustedKeys = new[] { pub } },
        }));
        _switches = new AgentSwitches { ConfigFile = deviceFile, DataDir = DataDir };
    }

    public void Dispose()
    {
        _trust.Dispose();
        _key.Dispose();
        _files.Dispose();
        _kit.Dispose();
    }

    private string DataDir => _kit.DataDir;

    private ConfigSlots Slots => new(DataDir);

    private ConfigBundleInstaller Installer(Func<string?, IConfiguration>? load = null) =>
        new(Slots, load ?? ConfigBundleInstaller.Loader(_switches), _events, TimeProvider.System, NullLogger<ConfigBundleInstaller>.Instance);

    /// <summary>A signed config bundle holding <paramref name="files"/> (by default one agent.json of <paramref name="json"/>).</summary>
    private async Task<(string Path, string Sha256)> BundleAsync(string version, string json, string name = Name, params (string Path, byte[] Bytes)[] files)
    {
        var source = Path.Combine(_files.Path, $"src-{_bundles++}");
        Directory.CreateDirectory(source);
        foreach (var (path, bytes) in files.Length > 0 ? files : [(ConfigSlots.OverlayFile, Encoding.UTF8.GetBytes(json))])
        {
            await File.WriteAllBytesAsync(Path.Combine(source, path), bytes);
        }

        var bundle = source + Downloader.BundleExtension;
        var output = File.Create(bundle);
        await using (output)
        {
            await BundleWriter.CreateAsync(new BundleCreateOptions { Kind = BundleKind.Config, Name = name, Version = version }, source, _key, output, TimeProvider.System, CancellationToken.None);
        }

        return (bundle, await ImportPipeline.HashFileAsync(bundle, CancellationToken.None));
    }

    private async Task<ImportResult> ImportAsync((string Path, string Sha256) bundle, ConfigBundleInstaller? installer = null)
    {
        using var owned = installer is null ? Installer() : null;
        var pipeline = new ImportPipeline(_trust, _kit.Activator, [installer ?? owned!], _events, DataDir, TimeProvider.System);
        return await pipeline.InstallAsync(bundle.Path, bundle.Sha256, null, new DeviceResources(null, null, null), CancellationToken.None);
    }

    private async Task<ImportResult> ImportAsync(string version, string json, string name = Name) => await ImportAsync(await BundleAsync(version, json, name));

    /// <summary>The options the agent binds at its next start: its own host, its own configuration sources.</summary>
    private (AgentOptions Agent, ManualsOptions Knowledge) Bound()
    {
        using var host = AgentHost.CreateBuilder(_switches).Build();
        return (host.Services.GetRequiredService<IOptions<AgentOptions>>().Value, host.Services.GetRequiredService<IOptions<ManualsOptions>>().Value);
    }

    /// <summary>Every entry of the data directory outside staging, with file contents and link targets.</summary>
    private string[] Snapshot() =>
        [.. new DirectoryInfo(DataDir).EnumerateFileSystemInfos("*", SearchOption.AllDirectories)
            .Where(e => !Path.GetRelativePath(DataDir, e.FullName).StartsWith(Downloader.StagingFolder, StringComparison.Ordinal))
            .Select(e => $"{Path.GetRelativePath(DataDir, e.FullName)} {e.LinkTarget ?? (e is FileInfo f ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f.FullName))) : "dir")}")
            .Order(StringComparer.Ordinal)];

    private string[] StagingLeftovers()
    {
        var staging = Path.Combine(DataDir, Downloader.StagingFolder);
        return Directory.Exists(staging) ? [.. Directory.EnumerateFileSystemEntries(staging)] : [];
    }

    private string[] Versions() =>
        [.. Directory.EnumerateDirectories(Path.Combine(Slots.Root, Name)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public async Task A_valid_overlay_is_switched_in_and_the_agents_options_bind_its_values_over_the_device_file()
    {
        Assert.Equal((512, 0.7, 3), (Bound().Agent.MaxTokens, Bound().Agent.Temperature, Bound().Knowledge.TopK));

        var result = await ImportAsync("1.0.0", V1);

        Assert.True(result.Activated, result.Text);
        Assert.Equal(BundleKind.Config, result.Kind);
        Assert.True(result.RestartRequired);
        Assert.Equal("restart_required: Agent:MaxTokens, Agent:Temperature, Knowledge:TopK take effect at the agent's next start", result.Reason);
        Assert.Equal([ActivationStates.Verifying, ActivationStates.Unpacking, ActivationStates.SmokeTest, ActivationStates.Active], _events.States);
        Assert.Equal(new SlotRef(Name, "1.0.0"), Slots.Active);
        Assert.Null(Slots.Previous);
        Assert.Equal(V1, File.ReadAllText(Path.Combine(DataDir, "config", Name, "1.0.0", "agent.json")));
        var (agent, knowledge) = Bound();
        Assert.Equal((256, 0.2, 6), (agent.MaxTokens, agent.Temperature, knowledge.TopK));
        Assert.Equal((AgentOptions.NoModel, DataDir), (agent.Model, agent.DataDir));
        Assert.Empty(StagingLeftovers());
    }

    [Fact]
    public async Task The_overlay_sits_between_the_device_file_and_the_switches()
    {
        await ImportAsync("1.0.0", V1);

        using var host = AgentHost.CreateBuilder(_switches with { Settings = new Dictionary<string, string?> { ["Agent:MaxTokens"] = "64" } }).Build();

        Assert.Equal(64, host.Services.GetRequiredService<IOptions<AgentOptions>>().Value.MaxTokens);
        Assert.Equal(6, host.Services.GetRequiredService<IOptions<ManualsOptions>>().Value.TopK);
    }

    [Fact]
    public async Task A_newer_overlay_replaces_the_active_one_which_is_kept_for_rollback_and_the_one_before_is_deleted()
    {
        await ImportAsync("1.0.0", V1);

        var second = await ImportAsync("1.1.0", """{"Agent":{"MaxTokens":128}}""");

        Assert.True(second.Activated, second.Text);
        // Keys the old overlay set and the new one does not fall back to the device file's values: a change too.
        Assert.Equal("restart_required: Agent:MaxTokens, Agent:Temperature, Knowledge:TopK take effect at the agent's next start", second.Reason);
        Assert.Equal((new SlotRef(Name, "1.1.0"), new SlotRef(Name, "1.0.0")), (Slots.Active, Slots.Previous));
        Assert.Equal((128, 0.7, 3), (Bound().Agent.MaxTokens, Bound().Agent.Temperature, Bound().Knowledge.TopK));

        var third = await ImportAsync("1.2.0", """{"Agent":{"MaxTokens":128},"Fleet":{"PollIntervalSeconds":120}}""");

        Assert.Equal("restart_required: Fleet:PollIntervalSeconds take effect at the agent's next start", third.Reason);
        Assert.Equal(["1.1.0", "1.2.0"], Versions());
        Assert.Equal(new SlotRef(Name, "1.1.0"), Slots.Previous);
    }

    [Fact]
    public async Task An_overlay_that_changes_no_effective_value_is_active_without_a_restart()
    {
        var result = await ImportAsync("1.0.0", """{"Agent":{"MaxTokens":512}}""");

        Assert.Equal((ActivationStates.Active, null), (result.State, result.Reason));
        Assert.False(result.RestartRequired);
    }

    public static TheoryData<string, string> Refused() => new()
    {
        { """{"Agent":{"MaxTokenz":256}}""", "invalid_config: unknown key Agent:MaxTokenz" },
        { """{"Agnet":{"MaxTokens":256}}""", "invalid_config: unknown key Agnet" },
        { """{"Logging":{"LogLevel":{"Default":"Trace"}}}""", "invalid_config: unknown key Logging" },
        { """{"Agent":{"ActiveModelPath":"/tmp/x"}}""", "invalid_config: unknown key Agent:ActiveModelPath" },
        { """{"Sensors":{"Store":{"BatchSizes":1}}}""", "invalid_config: unknown key Sensors:Store:BatchSizes" },
        { """{"Agent":{"MaxTokens":"lots"}}""", "'Agent:MaxTokens' to type 'System.Int32'" },
        { """{"Agent":{"QueryLog":"sometimes"}}""", "'Agent:QueryLog' to type 'System.Boolean'" },
        { """{"Agent":{"MaxTokens":0}}""", "invalid_config: Agent:MaxTokens: must be between 1 and 32768" },
        { """{"Knowledge":{"ChunkTokens":1}}""", "invalid_config: Knowledge:ChunkTokens" },
        { """{"Updates":{"MaintenanceWindow":"25:00-26:00"}}""", "invalid_config: Updates:MaintenanceWindow" },
        { """{"Fleet":{"BackoffMinMs":5000,"BackoffMaxMs":10}}""", "invalid_config: Fleet:BackoffMinMs: 5000 is above Fleet:BackoffMaxMs (10)" },
        { """{"Sensors":{"DefaultPeriod":"-00:00:05"}}""", "invalid_config: Sensors: Sensors:DefaultPeriod must be positive" },
        { """{"Agent":{"MaxTokens":{"value":256}}}""", "invalid_config: Agent:MaxTokens must be a single value, not an object" },
        { """{"Sensors":{"Sensors":{"Id":"x"}}}""", "invalid_config: Sensors:Sensors must be a list, not an object" },
        { """{"Sensors":{"Store":5}}""", "invalid_config: Sensors:Store must be an object of settings, not a number" },
        { """{"Updates":{"TrustedKeys":["/tmp/attacker.pub"]}}""", "invalid_config: Updates:TrustedKeys cannot be changed by a bundle" },
        { """{"updates":{"trustedkeys":{"0":"/tmp/attacker.pub"}}}""", "invalid_config: Updates:TrustedKeys cannot be changed by a bundle" },
        { """{"Updates":{"StateScript":"/bin/sh"}}""", "invalid_config: Updates:StateScript cannot be changed by a bundle" },
        { """{"Updates":{"ImportFolder":"/tmp"}}""", "invalid_config: Updates:ImportFolder cannot be changed by a bundle" },
        { """{"Agent":{"DataDir":"/tmp/elsewhere"}}""", "invalid_config: Agent:DataDir cannot be changed by a bundle" },
        { """{"Agent":{"Model":"/tmp/unsigned-model"}}""", "invalid_config: Agent:Model cannot be changed by a bundle" },
        { """{"Broker":{"BindAddress":"0.0.0.0"}}""", "invalid_config: Broker:BindAddress cannot be changed by a bundle" },
        { """{"Broker":{"Mode":"external","Host":"evil.example"}}""", "invalid_config: Broker:Mode cannot be changed by a bundle" },
        { """{"Broker":{"CaFile":"/tmp/ca.pem"}}""", "invalid_config: Broker:CaFile cannot be changed by a bundle" },
        { """{"Broker":{"Users":[{"Username":"x","Password":"y","Publish":["#"]}]}}""", "invalid_config: Broker:Users cannot be changed by a bundle" },
        { """{"Fleet":{"QueryLogUpload":true}}""", "invalid_config: Fleet:QueryLogUpload cannot be changed by a bundle" },
        { """{"Fleet":{"SerialPatterns":["x"]}}""", "invalid_config: Fleet:SerialPatterns cannot be changed by a bundle" },
        { """{"Metrics":{"Listen":"0.0.0.0:9464"}}""", "invalid_config: Metrics:Listen cannot be changed by a bundle" },
        { """{"Metrics":{"AllowRemote":true}}""", "invalid_config: Metrics:AllowRemote cannot be changed by a bundle" },
        { """{"Metrics":{"MaxConnections":0}}""", "invalid_config: Metrics:MaxConnections" },
        { """{"Metrics":{"Port":9464}}""", "invalid_config: unknown key Metrics:Port" },
        { """[{"Agent":{"MaxTokens":256}}]""", "invalid_config: agent.json must be a JSON object of configuration sections, not a list" },
        { "\"MaxTokens=256\"", "invalid_config: agent.json must be a JSON object of configuration sections, not a string" },
        { "null", "invalid_config: agent.json must be a JSON object of configuration sections, not null" },
        { """{"Agent":256}""", "invalid_config: Agent must be an object of settings, not a number" },
        { """{"Agent":{"MaxTokens":256""", "invalid_config: agent.json is not valid JSON" },
        { "", "invalid_config: agent.json is not valid JSON" },
        { """{"Agent":{"MaxTokens":256,"maxtokens":128}}""", "invalid_config: duplicate key Agent:maxtokens" },
        { """{"Agent":{"MaxTokens":256},"AGENT":{"Temperature":1}}""", "invalid_config: duplicate key AGENT" },
        { "{\"Agent\":" + new string('[', 40) + new string(']', 40) + "}", "invalid_config: agent.json is not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_refused_overlay_leaves_the_active_one_and_writes_nothing_outside_staging(string json, string reason)
    {
        await ImportAsync("1.0.0", V1);
        var before = Snapshot();

        var result = await ImportAsync("2.0.0", json);

        Assert.Equal(UpdateStates.Refused, result.State);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
        Assert.StartsWith(ConfigRefusals.InvalidConfig + ": ", result.Reason, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot());
        Assert.Equal(new SlotRef(Name, "1.0.0"), Slots.Active);
        Assert.Equal(256, Bound().Agent.MaxTokens);
        Assert.Empty(StagingLeftovers());
    }

    [Fact]
    public async Task An_oversized_overlay_is_refused_before_it_is_parsed()
    {
        await ImportAsync("1.0.0", V1);
        var before = Snapshot();
        var huge = JsonSerializer.Serialize(new { Agent = new { SystemPrompt = new string('x', ConfigOverlay.MaxBytes) } });

        var result = await ImportAsync("2.0.0", huge);

        Assert.Equal(UpdateStates.Refused, result.State);
        Assert.Equal($"invalid_config: agent.json is {huge.Length} bytes, more than the 262144 a config overlay may have", result.Reason);
        Assert.Equal(before, Snapshot());
        Assert.Equal(new SlotRef(Name, "1.0.0"), Slots.Active);
    }

    [Fact]
    public async Task A_config_bundle_must_carry_exactly_one_agent_json()
    {
        var extra = await ImportAsync(await BundleAsync("1.0.0", "", Name, ("agent.json", "{}"u8.ToArray()), ("run.sh", "#!/bin/sh"u8.ToArray())));
        var renamed = await ImportAsync(await BundleAsync("1.0.0", "", Name, ("config.json", "{}"u8.ToArray())));

        Assert.Equal(UpdateStates.Refused, extra.State);
        Assert.Equal("invalid_config: a config bundle carries exactly one file, agent.json; plant-a 1.0.0 has agent.json, run.sh", extra.Reason);
        Assert.Equal("invalid_config: a config bundle carries exactly one file, agent.json; plant-a 1.0.0 has config.json", renamed.Reason);
        Assert.False(Directory.Exists(Slots.Root));
    }

    [Fact]
    public async Task An_overlay_the_agent_cannot_run_with_after_the_switch_is_rolled_back_to_the_previous_one()
    {
        await ImportAsync("1.0.0", V1);
        await ImportAsync("1.1.0", """{"Agent":{"MaxTokens":300}}""");
        var real = ConfigBundleInstaller.Loader(_switches);
        var v2 = Path.Combine(Slots.Root, Name, "2.0.0");
        // The configuration read back through the switched link is one the agent cannot start with.
        IConfiguration Broken(string? overlay) => overlay is not null && overlay.StartsWith(v2, StringComparison.Ordinal)
            ? new ConfigurationBuilder().AddConfiguration(real(overlay)).AddInMemoryCollection(new Dictionary<string, string?> { ["Agent:QueueCapacity"] = "-1" }).Build()
            : real(overlay);
        using var installer = Installer(Broken);

        var result = await ImportAsync(await BundleAsync("2.0.0", """{"Agent":{"MaxTokens":128}}"""), installer);

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.StartsWith("invalid_config: the agent's configuration with the new overlay does not validate: Agent:QueueCapacity", result.Reason, StringComparison.Ordinal);
        Assert.Equal([ActivationStates.Verifying, ActivationStates.Unpacking, ActivationStates.SmokeTest, ActivationStates.RolledBack], _events.States.TakeLast(4));
        Assert.Equal((new SlotRef(Name, "1.1.0"), new SlotRef(Name, "1.0.0")), (Slots.Active, Slots.Previous));
        Assert.Equal(["1.0.0", "1.1.0"], Versions());
        Assert.Equal(300, Bound().Agent.MaxTokens);
        Assert.Empty(StagingLeftovers());
    }

    [Fact]
    public async Task A_crash_between_the_copy_and_the_switch_leaves_the_old_overlay_active_and_the_next_start_deletes_the_leftover()
    {
        await ImportAsync("1.0.0", V1);
        // What a crash after writing the new slot, before renaming the link, leaves: the slot and a temporary link.
        var leftover = Path.Combine(Slots.Root, Name, "2.0.0");
        Directory.CreateDirectory(leftover);
        File.WriteAllText(Path.Combine(leftover, "agent.json"), """{"Agent":{"MaxTokens":128}}""");
        File.CreateSymbolicLink(Path.Combine(Slots.Root, ".active.tmp-0123456789ab"), $"{Name}/2.0.0");

        Assert.Equal(256, Bound().Agent.MaxTokens);
        await new SlotRecovery(_kit.Activator, Options.Create(_kit.Agent), NullLogger<SlotRecovery>.Instance).StartingAsync(CancellationToken.None);

        Assert.False(Directory.Exists(leftover));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Slots.Root, "*.tmp-*"));
        Assert.Equal(new SlotRef(Name, "1.0.0"), Slots.Active);
        Assert.Equal(256, Bound().Agent.MaxTokens);
        Assert.True((await ImportAsync("2.0.0", """{"Agent":{"MaxTokens":128}}""")).Activated);
        Assert.Equal(128, Bound().Agent.MaxTokens);
    }

    [Fact]
    public async Task An_overlay_that_cannot_be_written_is_rolled_back_with_the_links_as_they_were()
    {
        await ImportAsync("1.0.0", V1);
        // A file where the slot folder must go: creating the folder fails as on a full or read-only disk.
        File.WriteAllText(Path.Combine(Slots.Root, Name, "2.0.0"), "in the way");

        var result = await ImportAsync("2.0.0", """{"Agent":{"MaxTokens":128}}""");

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.StartsWith("install_failed: the overlay cannot be written under ", result.Reason, StringComparison.Ordinal);
        Assert.Equal((new SlotRef(Name, "1.0.0"), null), (Slots.Active, Slots.Previous));
        Assert.Equal(256, Bound().Agent.MaxTokens);
        Assert.Empty(StagingLeftovers());
    }

    [Theory]
    [InlineData(ActivationStates.Unpacking, "1.0.0", 256)]
    [InlineData(ActivationStates.SmokeTest, "2.0.0", 128)]
    public async Task A_crash_at_a_step_leaves_the_old_or_the_new_overlay_active_never_a_half(string step, string active, int maxTokens)
    {
        await ImportAsync("1.0.0", V1);
        var bundle = await BundleAsync("2.0.0", """{"Agent":{"MaxTokens":128}}""");
        _events.CrashAt = step;

        await Assert.ThrowsAsync<SimulatedCrashException>(() => ImportAsync(bundle));
        _events.CrashAt = null;
        await new SlotRecovery(_kit.Activator, Options.Create(_kit.Agent), NullLogger<SlotRecovery>.Instance).StartingAsync(CancellationToken.None);

        Assert.Equal(new SlotRef(Name, active), Slots.Active);
        Assert.Equal(maxTokens, Bound().Agent.MaxTokens);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Slots.Root, "*.tmp-*"));
        Assert.Empty(StagingLeftovers());
    }

    [Fact]
    public async Task The_same_version_again_is_a_no_op_and_another_overlay_under_that_version_is_refused()
    {
        await ImportAsync("1.0.0", V1);
        var before = Snapshot();

        var again = await ImportAsync("1.0.0", V1);
        var changed = await ImportAsync("1.0.0", """{"Agent":{"MaxTokens":1024}}""");

        Assert.Equal((ActivationStates.Active, "already active"), (again.State, again.Reason));
        Assert.Equal(UpdateStates.Refused, changed.State);
        Assert.Equal("version_conflict: config plant-a 1.0.0 is installed with another overlay; publish the change as a new version", changed.Reason);
        Assert.Equal(before, Snapshot());
        Assert.Equal(256, Bound().Agent.MaxTokens);
    }

    [Fact]
    public async Task Re_pushing_the_previous_version_makes_it_active_again()
    {
        await ImportAsync("1.0.0", V1);
        await ImportAsync("1.1.0", """{"Agent":{"MaxTokens":128}}""");

        var back = await ImportAsync("1.0.0", V1);

        Assert.True(back.Activated, back.Text);
        Assert.Equal((new SlotRef(Name, "1.0.0"), new SlotRef(Name, "1.1.0")), (Slots.Active, Slots.Previous));
        Assert.Equal(256, Bound().Agent.MaxTokens);
    }

    [Fact]
    public async Task The_desired_config_bundle_is_fetched_and_installed_once_and_a_refused_one_is_not_fetched_again()
    {
        using var outbox = new Outbox(Path.Combine(DataDir, "agent.db"), 10_000_000, TimeProvider.System);
        using var installer = Installer();
        var desired = new FixedDesired();
        var fetcher = new CopyFetcher(DataDir);
        var options = new UpdateCoordinatorOptions();
        options.TrustedKeys.Add(Path.Combine(_files.Path, "publisher.pub"));
        using var coordinator = new UpdateCoordinator(desired, fetcher, _kit.Activator, _events, outbox, () => new DeviceResources(null, null, null), options, DataDir,
            TimeProvider.System, NullLogger<UpdateCoordinator>.Instance, [installer], configs: installer.Slots);
        var good = await BundleAsync("1.0.0", V1);
        var bad = await BundleAsync("2.0.0", """{"Updates":{"TrustedKeys":["/tmp/attacker.pub"]}}""");
        fetcher.Sources[good.Sha256] = good.Path;
        fetcher.Sources[bad.Sha256] = bad.Path;

        desired.DesiredConfig = new ArtifactRef { Name = Name, Version = "1.0.0", Sha256 = good.Sha256 };
        var installed = Assert.Single(await coordinator.StepAsync(CancellationToken.None));
        Assert.Empty(await coordinator.StepAsync(CancellationToken.None));
        desired.DesiredConfig = new ArtifactRef { Name = Name, Version = "2.0.0", Sha256 = bad.Sha256 };
        var refused = Assert.Single(await coordinator.StepAsync(CancellationToken.None));
        Assert.Empty(await coordinator.StepAsync(CancellationToken.None));

        Assert.True(installed.Activated, installed.Text);
        Assert.Equal("invalid_config: Updates:TrustedKeys cannot be changed by a bundle", refused.Reason);
        Assert.Equal(2, fetcher.Fetches);
        Assert.Equal(new SlotRef(Name, "1.0.0"), Slots.Active);
    }

    [Fact]
    public async Task The_agent_registers_the_config_installer_and_reports_the_active_config_bundle_to_the_fleet()
    {
        await ImportAsync("1.0.0", V1);
        using var host = AgentHost.CreateBuilder(_switches).Build();

        var installer = Assert.Single(host.Services.GetServices<IBundleInstaller>(), i => i.Kind == BundleKind.Config);
        Assert.IsType<ConfigBundleInstaller>(installer);
        _ = host.Services.GetRequiredService<UpdateStateReporter>();
        var reported = host.Services.GetRequiredService<DesiredStateSync>().Reported();

        Assert.Equal((Name, "1.0.0"), (reported.ConfigBundle?.Name, reported.ConfigBundle?.Version));
        Assert.Contains("\"config_bundle\":{\"name\":\"plant-a\",\"version\":\"1.0.0\"}", JsonSerializer.Serialize(reported, FleetJsonContext.Default.ReportedState), StringComparison.Ordinal);
    }
}
