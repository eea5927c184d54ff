using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Runtime.Chat;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>Adapter bundles from the fleet's desired state, through the real pipeline, onto a real LoRA-capable base model.</summary>
public sealed class AdapterUpdateTests : IDisposable
{
    private readonly CoordinatorKit _kit = new(loraRank: 4);

    public AdapterUpdateTests() => _kit.Slots.Active.StartingAsync(CancellationToken.None).GetAwaiter().GetResult();

    public void Dispose() => _kit.Dispose();

    private async Task<ImportResult> DesireAdapterAsync(string name, string version, BundleSmokeTest? smoke = null, int seed = 7, string? fitsFolder = null,
        IReadOnlyDictionary<string, string>? files = null)
    {
        var bundle = await _kit.AdapterBundleAsync(name, version, smoke, seed, fitsFolder, files);
        _kit.Desired.DesiredAdapter = new ArtifactRef { Name = name, Version = version, Sha256 = bundle.Sha256 };
        return Assert.Single(await _kit.Coordinator.StepAsync(CancellationToken.None));
    }

    private static string Greedy(LocalModel model, string? adapter) =>
        model.CompleteAsync(new TextRequest { PromptIds = model.EncodeRaw("Hello there"), Options = new() { MaxNewTokens = 8, DoSample = false, Adapter = adapter } })
            .GetAwaiter().GetResult().Text;

    [Fact]
    public async Task An_adapter_bundle_is_applied_to_new_answers_on_the_same_loaded_model()
    {
        var model = _kit.Slots.Active.Model!;

        var result = await DesireAdapterAsync("plant-a", "1.0.0");

        Assert.Equal(ActivationStates.Active, result.State);
        Assert.Same(model, _kit.Slots.Active.Model);
        Assert.Equal(new AdapterRef("plant-a", "1.0.0", "plant-a.onnx_adapter"), _kit.Adapters.Current);
        Assert.Equal("plant-a@1.0.0", _kit.Adapters.For(model));
        Assert.Contains("plant-a@1.0.0", model.Model.Adapters.Names);
        Assert.Equal(_kit.Adapters.Current, _kit.Adapters.Slots.ReadState().Active);
        Assert.True(File.Exists(_kit.Adapters.Slots.FileOf(_kit.Adapters.Current!)));
        Assert.Equal(
            [ActivationStates.Verifying, ActivationStates.Unpacking, ActivationStates.Loading, ActivationStates.SmokeTest, ActivationStates.Active],
            _kit.Slots.Events.States);
        Assert.Empty(_kit.StagingLeftovers());
    }

    [Fact]
    public async Task A_newer_adapter_replaces_the_active_one_which_is_kept_for_rollback_and_the_one_before_deleted()
    {
        await DesireAdapterAsync("plant-a", "1.0.0", seed: 1);
        await DesireAdapterAsync("plant-a", "1.1.0", seed: 2);
        var third = await DesireAdapterAsync("plant-a", "1.2.0", seed: 3);

        Assert.Equal(ActivationStates.Active, third.State);
        var state = _kit.Adapters.Slots.ReadState();
        Assert.Equal("1.2.0", state.Active!.Version);
        Assert.Equal("1.1.0", state.Previous!.Version);
        Assert.False(Directory.Exists(_kit.Adapters.Slots.PathOf("plant-a", "1.0.0")));
        Assert.True(Directory.Exists(_kit.Adapters.Slots.PathOf("plant-a", "1.1.0")));
        Assert.Equal("plant-a@1.2.0", _kit.Adapters.For(_kit.Slots.Active.Model!));
    }

    [Fact]
    public async Task An_adapter_whose_smoke_test_fails_is_not_applied_and_the_active_one_keeps_serving()
    {
        await DesireAdapterAsync("plant-a", "1.0.0");
        var impossible = new BundleSmokeTest { Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 2, ExpectSubstrings = ["\u2603 not in any answer \u2603"] }], TimeoutSeconds = 60 };

        var result = await DesireAdapterAsync("plant-a", "2.0.0", impossible);

        Assert.Equal(ActivationStates.SmokeTestFailed, result.State);
        Assert.Equal("1.0.0", _kit.Adapters.Current!.Version);
        Assert.Equal("plant-a@1.0.0", _kit.Adapters.For(_kit.Slots.Active.Model!));
        var state = _kit.Adapters.Slots.ReadState();
        Assert.Equal(("1.0.0", "2.0.0", ActivationStates.SmokeTestFailed), (state.Active!.Version, state.LastFailure!.Slot.Version, state.LastFailure.State));
        Assert.False(Directory.Exists(_kit.Adapters.Slots.PathOf("plant-a", "2.0.0")));

        // The failed version is not fetched again at every look.
        var fetches = _kit.Fetcher.Fetches;
        Assert.Empty(await _kit.Coordinator.StepAsync(CancellationToken.None));
        Assert.Equal(fetches, _kit.Fetcher.Fetches);
    }

    [Fact]
    public async Task An_adapter_that_does_not_fit_the_serving_model_fails_to_load_with_the_reason_and_changes_nothing()
    {
        // The serving model was exported without LoRA inputs; the adapter was made for the LoRA export of another one.
        using var kit = new CoordinatorKit(loraRank: 0);
        await kit.Slots.Active.StartingAsync(CancellationToken.None);
        var lora = Path.Combine(kit.Slots.DataDir, "lora-model");
        SlotKit.Synthesize(lora, seed: 5, loraRank: 4);
        var bundle = await kit.AdapterBundleAsync("foreign", "1.0.0", fitsFolder: lora);
        kit.Desired.DesiredAdapter = new ArtifactRef { Name = "foreign", Version = "1.0.0", Sha256 = bundle.Sha256 };

        var result = Assert.Single(await kit.Coordinator.StepAsync(CancellationToken.None));

        Assert.Equal(ActivationStates.LoadFailed, result.State);
        Assert.Contains("does not fit base", result.Reason, StringComparison.Ordinal);
        Assert.Contains("LoRA", result.Reason, StringComparison.Ordinal);
        Assert.Null(kit.Adapters.Current);
        Assert.Null(kit.Adapters.For(kit.Slots.Active.Model!));
        Assert.False(Directory.Exists(kit.Adapters.Slots.PathOf("foreign", "1.0.0")));
    }

    [Fact]
    public async Task A_bundle_without_exactly_one_adapter_file_is_refused()
    {
        var result = await DesireAdapterAsync("notes", "1.0.0", files: new Dictionary<string, string> { ["README.md"] = "not an adapter" });

        Assert.Equal(UpdateStates.Refused, result.State);
        Assert.StartsWith(AdapterRefusals.NotAnAdapter, result.Reason, StringComparison.Ordinal);
        Assert.Null(_kit.Adapters.Current);
        Assert.Empty(_kit.StagingLeftovers());
    }

    [Fact]
    public async Task A_restarted_agent_applies_the_active_adapter_to_its_freshly_loaded_model()
    {
        await DesireAdapterAsync("plant-a", "1.0.0");
        var before = Greedy(_kit.Slots.Active.Model!, "plant-a@1.0.0");

        var restarted = await _kit.Slots.RestartAsync();
        var adapters = new ActiveAdapter(Options.Create(_kit.Slots.Agent), NullLogger<ActiveAdapter>.Instance);

        Assert.Equal("plant-a@1.0.0", adapters.For(restarted.Model!));
        Assert.Equal(before, Greedy(restarted.Model!, "plant-a@1.0.0"));
    }

    [Fact]
    public async Task The_adapter_changes_what_the_model_generates()
    {
        var model = _kit.Slots.Active.Model!;
        Assert.Empty(model.Model.Adapters.Names);

        await DesireAdapterAsync("plant-a", "1.0.0", seed: 11);

        // Random LoRA factors of a real rank move the logits enough to change a greedy answer of eight tokens.
        Assert.NotEqual(Greedy(model, null), Greedy(model, "plant-a@1.0.0"));
    }

    [Fact]
    public async Task An_adapter_without_a_base_model_is_refused_and_tried_again_once_a_model_serves()
    {
        using var kit = new CoordinatorKit(loraRank: 4);
        var bundle = await kit.AdapterBundleAsync("plant-a", "1.0.0");
        kit.Desired.DesiredAdapter = new ArtifactRef { Name = "plant-a", Version = "1.0.0", Sha256 = bundle.Sha256 };

        var first = Assert.Single(await kit.Coordinator.StepAsync(CancellationToken.None));
        Assert.StartsWith(AdapterRefusals.NoBaseModel, first.Reason, StringComparison.Ordinal);

        await kit.Slots.Active.StartingAsync(CancellationToken.None);
        var second = Assert.Single(await kit.Coordinator.StepAsync(CancellationToken.None));
        Assert.Equal(ActivationStates.Active, second.State);
    }

    [Fact]
    public void A_slot_left_by_a_crash_before_the_switch_is_deleted_at_start()
    {
        var slots = new AdapterSlots(_kit.Slots.DataDir);
        var leftover = slots.PathOf("plant-a", "9.0.0");
        Directory.CreateDirectory(leftover);
        File.WriteAllText(Path.Combine(leftover, "plant-a.onnx_adapter"), "half");

        var adapters = new ActiveAdapter(Options.Create(_kit.Slots.Agent), NullLogger<ActiveAdapter>.Instance);

        Assert.Null(adapters.Current);
        Assert.False(Directory.Exists(leftover));
    }

    [Fact]
    public void An_unreadable_state_file_means_no_adapter_not_a_failed_start()
    {
        var slots = new AdapterSlots(_kit.Slots.DataDir);
        Directory.CreateDirectory(slots.Root);
        File.WriteAllText(Path.Combine(slots.Root, AdapterSlots.StateFile), "{ not json");

        var adapters = new ActiveAdapter(Options.Create(_kit.Slots.Agent), NullLogger<ActiveAdapter>.Instance);

        Assert.Null(adapters.Current);
        Assert.Null(adapters.For(_kit.Slots.Active.Model!));
    }
}
