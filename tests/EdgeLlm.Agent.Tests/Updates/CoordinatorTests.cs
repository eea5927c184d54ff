using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>The update coordinator on real signed bundles, the real bundle reader and the real activator over tiny synthesized models.</summary>
public sealed class CoordinatorTests : IDisposable
{
    private static readonly SlotRef V2 = new("base", "2.0.0");

    private readonly CoordinatorKit _kit = new();

    public CoordinatorTests() => _kit.Slots.Active.StartingAsync(CancellationToken.None).GetAwaiter().GetResult();

    public void Dispose() => _kit.Dispose();

    [Fact]
    public async Task A_desired_good_bundle_is_fetched_verified_and_activated_once()
    {
        _kit.Desire("base", "2.0.0", await _kit.BundleAsync("base", "2.0.0"));

        var results = await _kit.Coordinator.StepAsync(CancellationToken.None);
        var again = await _kit.Coordinator.StepAsync(CancellationToken.None);

        Assert.Equal(ActivationStates.Active, Assert.Single(results).State);
        Assert.Empty(again);
        Assert.Equal(1, _kit.Fetcher.Fetches);
        Assert.Equal(["verifying", "unpacking", "loading", "smoke_test", "active"], _kit.Slots.Events.States);
        Assert.Equal(V2, _kit.Slots.ActiveLink);
        Assert.Equal(SlotKit.Base, _kit.Slots.PreviousLink);
        Assert.Equal(new ModelRef { Id = "base", Version = "2.0.0", Synthesized = true }, _kit.Slots.Active.Ref);
        Assert.Empty(_kit.StagingLeftovers());
    }

    [Fact]
    public async Task A_bundle_whose_smoke_test_fails_is_rolled_back_reported_and_not_tried_again()
    {
        var failing = SlotKit.Passing() with { Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 4, ExpectSubstrings = ["the answer is forty-two"] }] };
        _kit.Desire("base", "2.0.0", await _kit.BundleAsync("base", "2.0.0", failing));
        var before = _kit.Slots.Active.Ref;

        var result = Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));
        var again = await _kit.Coordinator.StepAsync(CancellationToken.None);

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.Equal(["verifying", "unpacking", "loading", "smoke_test", "smoke_test_failed", "rolled_back"], _kit.Slots.Events.States);
        Assert.Contains("forty-two", _kit.Slots.Events.Texts[4], StringComparison.Ordinal);
        Assert.Empty(again);
        Assert.Equal(1, _kit.Fetcher.Fetches);
        Assert.Equal(SlotKit.Base, _kit.Slots.ActiveLink);
        Assert.Equal(before, _kit.Slots.Active.Ref);
        Assert.True((await SlotKit.AnswerAsync(_kit.Slots.Active)).CompletionTokens > 0);
        Assert.Empty(_kit.StagingLeftovers());
    }

    [Fact]
    public async Task A_bundle_signed_by_an_untrusted_key_is_refused_with_its_code_and_the_old_model_keeps_serving()
    {
        _kit.Desire("base", "2.0.0", await _kit.BundleAsync("base", "2.0.0", key: _kit.OtherKey));

        var result = Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));
        var again = await _kit.Coordinator.StepAsync(CancellationToken.None);

        Assert.Equal(UpdateStates.Refused, result.State);
        Assert.StartsWith("unknown_key: ", result.Reason, StringComparison.Ordinal);
        Assert.Equal(["verifying", "refused"], _kit.Slots.Events.States);
        Assert.Empty(again);
        Assert.Equal(SlotKit.Base, _kit.Slots.ActiveLink);
        Assert.False(Directory.Exists(_kit.Slots.Slots.PathOf(V2)));
        Assert.True((await SlotKit.AnswerAsync(_kit.Slots.Active)).CompletionTokens > 0);
        Assert.Empty(_kit.StagingLeftovers());
    }

    [Fact]
    public async Task A_tampered_bundle_is_refused_with_a_hash_or_size_code_and_nothing_is_unpacked()
    {
        var bundle = await _kit.BundleAsync("base", "2.0.0");
        var bytes = await File.ReadAllBytesAsync(bundle.Path);
        bytes[bytes.Length / 2] ^= 0x5A; // inside the weights, the largest payload file
        await File.WriteAllBytesAsync(bundle.Path, bytes);
        _kit.Desire("base", "2.0.0", (bundle.Path, await ImportPipeline.HashFileAsync(bundle.Path, CancellationToken.None)));

        var result = Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));

        Assert.Equal(UpdateStates.Refused, result.State);
        Assert.Matches("^(hash_mismatch|size_mismatch|malformed|truncated): ", result.Reason);
        Assert.Equal(SlotKit.Base, _kit.Slots.ActiveLink);
        Assert.False(Directory.Exists(_kit.Slots.Slots.PathOf(V2)));
        Assert.Empty(_kit.StagingLeftovers());
    }

    [Fact]
    public async Task Runtime_needs_the_device_does_not_meet_and_a_name_other_than_desired_are_refused_before_unpacking()
    {
        _kit.Desire("base", "2.0.0", await _kit.BundleAsync("base", "2.0.0", minMemory: 64L << 30));
        var memory = Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));
        _kit.Desire("base", "3.0.0", await _kit.BundleAsync("other", "3.0.0"));
        var name = Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));

        Assert.StartsWith($"{ImportRefusals.InsufficientMemory}: ", memory.Reason, StringComparison.Ordinal);
        Assert.StartsWith($"{ImportRefusals.NotDesired}: ", name.Reason, StringComparison.Ordinal);
        Assert.Equal(["verifying", "refused", "verifying", "refused"], _kit.Slots.Events.States);
        Assert.Equal(SlotKit.Base, _kit.Slots.ActiveLink);
    }

    [Fact]
    public async Task A_desired_model_without_a_bundle_or_already_active_is_left_alone()
    {
        _kit.Desired.DesiredModel = new Contracts.Fleet.ArtifactRef { Name = "base", Version = "9.0.0" };
        Assert.Empty(await _kit.Coordinator.StepAsync(CancellationToken.None));
        _kit.Desired.DesiredModel = new Contracts.Fleet.ArtifactRef { Name = "base", Version = "1.0.0", Sha256 = new string('a', 64) };
        Assert.Empty(await _kit.Coordinator.StepAsync(CancellationToken.None));

        Assert.Equal(0, _kit.Fetcher.Fetches);
        Assert.Empty(_kit.Slots.Events.States);
    }

    [Fact]
    public async Task A_failed_download_is_reported_and_tried_again_at_the_next_look()
    {
        _kit.Desired.DesiredModel = new Contracts.Fleet.ArtifactRef { Name = "base", Version = "2.0.0", Sha256 = new string('b', 64) };

        Assert.Empty(await _kit.Coordinator.StepAsync(CancellationToken.None));
        Assert.Empty(await _kit.Coordinator.StepAsync(CancellationToken.None));

        Assert.Equal(2, _kit.Fetcher.Fetches);
        Assert.Equal([UpdateStates.DownloadFailed, UpdateStates.DownloadFailed], _kit.Slots.Events.States);
        Assert.Equal(SlotKit.Base, _kit.Slots.ActiveLink);
    }
}

/// <summary>The watched import folder (a mounted USB stick).</summary>
public sealed class CoordinatorImportFolderTests : IDisposable
{
    private readonly TempDir _stick = TestPaths.NewTempDir();
    private readonly CoordinatorKit _kit;

    public CoordinatorImportFolderTests()
    {
        _kit = new CoordinatorKit(_stick.Path);
        _kit.Slots.Active.StartingAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        _kit.Dispose();
        _stick.Dispose();
    }

    [Fact]
    public async Task A_new_file_on_the_stick_is_imported_once_and_left_on_the_stick()
    {
        var bundle = await _kit.BundleAsync("base", "2.0.0", folder: _stick.Path);
        await File.WriteAllTextAsync(Path.Combine(_stick.Path, "notes.txt"), "not a bundle");

        var first = await _kit.Coordinator.StepAsync(CancellationToken.None);
        var second = await _kit.Coordinator.StepAsync(CancellationToken.None);

        Assert.Equal(ActivationStates.Active, Assert.Single(first).State);
        Assert.Empty(second);
        Assert.Equal(new SlotRef("base", "2.0.0"), _kit.Slots.ActiveLink);
        Assert.True(File.Exists(bundle.Path));
        Assert.Equal(bundle.Sha256, await ImportPipeline.HashFileAsync(bundle.Path, CancellationToken.None));
        Assert.Contains(bundle.Sha256, _kit.Outbox.GetState(UpdateCoordinator.ImportedKey), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_imported_file_is_remembered_by_its_hash_across_a_restart_and_a_refused_one_is_not_retried()
    {
        await _kit.BundleAsync("base", "2.0.0", folder: _stick.Path);
        Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));
        var hostile = await _kit.BundleAsync("base", "3.0.0", key: _kit.OtherKey, folder: _stick.Path);

        var refused = Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));
        var options = new UpdateCoordinatorOptions { ImportFolder = _stick.Path };
        using var restarted = new UpdateCoordinator(_kit.Desired, _kit.Fetcher, _kit.Slots.Activator, _kit.Slots.Events, _kit.Outbox, () => _kit.Resources, options,
            _kit.Slots.DataDir, TimeProvider.System, NullLogger<UpdateCoordinator>.Instance);

        Assert.Equal((UpdateStates.Refused, "base", "3.0.0"), (refused.State, refused.Name, refused.Version));
        Assert.StartsWith("unknown_key: ", refused.Reason, StringComparison.Ordinal);
        Assert.Empty(await restarted.StepAsync(CancellationToken.None));
        Assert.Equal(new SlotRef("base", "2.0.0"), _kit.Slots.ActiveLink);
        Assert.True(File.Exists(hostile.Path));
    }
}

/// <summary>Where update steps go: the fleet outbox (<c>update_state</c>) and the reported state.</summary>
public sealed class UpdateStateReporterTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Every_step_becomes_an_update_state_event_and_failures_show_in_the_reported_errors()
    {
        using var outbox = new Outbox(Path.Combine(_dir.Path, "agent.db"), 1_000_000, TimeProvider.System);
        var log = new ActivationEventLog();
        var reporter = new UpdateStateReporter(log, outbox, null, "dev-1", NullLogger<UpdateStateReporter>.Instance);
        var at = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

        log.Report(new ActivationEvent("qwen", "2.0.0", "downloading 43%", null, at));
        var during = reporter.InProgress;
        log.Report(new ActivationEvent("qwen", "2.0.0", ActivationStates.SmokeTestFailed, "no answer contains \"OK\"", at));
        log.Report(new ActivationEvent("qwen", "2.0.0", ActivationStates.RolledBack, "no answer contains \"OK\"", at));
        await reporter.StopAsync(CancellationToken.None);
        log.Report(new ActivationEvent("qwen", "2.0.0", ActivationStates.Active, null, at));

        var items = outbox.ReadBatch(10);
        Assert.Equal("updating qwen 2.0.0: downloading 43%", during);
        Assert.Null(reporter.InProgress);
        Assert.Equal(3, items.Count);
        Assert.All(items, i => Assert.Equal((TelemetryKindsEvent, UpdateStateReporter.EventName), (i.Kind, i.Name)));
        var data = items[1].Data!.Value;
        Assert.Equal(("qwen", "2.0.0", "smoke_test_failed", "no answer contains \"OK\""),
            (data.GetProperty("bundle").GetString(), data.GetProperty("version").GetString(), data.GetProperty("state").GetString(), data.GetProperty("reason").GetString()));
        Assert.Equal(["update qwen 2.0.0: rolled_back: no answer contains \"OK\"", "update qwen 2.0.0: smoke_test_failed: no answer contains \"OK\""], reporter.Errors);
    }

    private const string TelemetryKindsEvent = Contracts.Fleet.TelemetryKinds.Event;
}

/// <summary>The coordinator's settings.</summary>
public sealed class UpdateCoordinatorOptionsTests
{
    [Fact]
    public void A_trusted_key_file_that_does_not_exist_fails_validation_with_its_path()
    {
        var options = new UpdateCoordinatorOptions();
        options.TrustedKeys.Add("/nonexistent/publisher.pub");

        var result = new UpdateCoordinatorOptionsRules().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Updates:TrustedKeys: /nonexistent/publisher.pub does not exist", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new UpdateCoordinatorOptionsRules().Validate(null, new UpdateCoordinatorOptions()).Succeeded);
    }
}
