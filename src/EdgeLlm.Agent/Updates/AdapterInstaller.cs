using EdgeLlm.Agent.Models;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Runtime.Adapters;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Updates;

/// <summary>Refusal codes of adapter bundles.</summary>
internal static class AdapterRefusals
{
    public const string NotAnAdapter = "not_an_adapter";
    public const string NoBaseModel = "no_base_model";
}

/// <summary>
/// Activates an adapter bundle on the model that serves, without reloading it: the payload's one <c>.onnx_adapter</c>
/// file is moved into <c>adapters/NAME/VERSION/</c>, loaded onto the serving model (checked against its LoRA inputs:
/// names, types, shapes), the manifest's smoke test runs with the adapter on, and only then is
/// <c>adapters/adapters.json</c> replaced (one rename) and the adapter applied to new answers. Answers already running
/// finish as they began. A failure at any step leaves the adapter that served before (or none) serving, and a crash
/// before the rename leaves only a slot folder that the next start deletes.
/// </summary>
internal sealed class AdapterInstaller(ActiveModel active, ActiveAdapter adapters, IActivationEvents events, TimeProvider time, ILogger<AdapterInstaller> logger)
    : IBundleInstaller, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public BundleKind Kind => BundleKind.Adapter;

    public async Task<ActivationResult> InstallAsync(string stagingFolder, BundleManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var files = manifest.Files.Where(f => f.Path.EndsWith(".onnx_adapter", StringComparison.Ordinal)).ToList();
        if (files.Count != 1)
        {
            return Refuse(manifest, $"{AdapterRefusals.NotAnAdapter}: an adapter bundle carries exactly one .onnx_adapter file; {manifest.Name} {manifest.Version} has {files.Count}");
        }

        var adapter = new AdapterRef(manifest.Name, manifest.Version, Path.GetFileName(files[0].Path));
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var lease = active.Acquire();
            if (lease is null)
            {
                return Refuse(manifest, $"{AdapterRefusals.NoBaseModel}: no model is active ({active.UnavailableReason}); install the base model before its adapter");
            }

            var slots = adapters.Slots;
            var state = slots.ReadState();
            if (state.Active == adapter && File.Exists(slots.FileOf(adapter)))
            {
                Report(adapter, ActivationStates.Active, "already active");
                return new ActivationResult(ActivationStates.Active, "already active");
            }

            Report(adapter, ActivationStates.Unpacking, null);
            var kept = state.Previous == adapter && File.Exists(slots.FileOf(adapter));
            if (!kept)
            {
                Move(stagingFolder, files[0].Path, slots.PathOf(adapter.Name, adapter.Version));
            }

            Report(adapter, ActivationStates.Loading, null);
            var model = lease.Model;
            try
            {
                model.Model.Adapters.Load(adapter.Key, slots.FileOf(adapter));
            }
            catch (ArgumentException) when (model.Model.Adapters.Names.Contains(adapter.Key))
            {
                // Loaded by an earlier attempt at this very version on this model (adapters stay loaded with their model).
            }
            catch (AdapterFileException ex)
            {
                return Fail(state, adapter, kept, ActivationStates.LoadFailed, $"the adapter does not fit {lease.Ref.Id} {lease.Ref.Version}: {ex.Message}");
            }

            adapters.MarkLoaded(model, adapter.Key);
            Report(adapter, ActivationStates.SmokeTest, null);
            string? failure;
            try
            {
                failure = await SmokeTest.RunAsync(model, manifest.SmokeTest, time, adapter.Key, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                failure = $"generation failed: {ex.Message}";
            }

            if (failure is not null)
            {
                return Fail(state, adapter, kept, ActivationStates.SmokeTestFailed, failure);
            }

            var next = new AdapterState { Active = adapter, Previous = state.Active == adapter ? state.Previous : state.Active, LastFailure = state.LastFailure };
            slots.WriteState(next);
            adapters.Set(adapter, model);
            slots.DeleteLeftovers(next);
            AdapterLog.Installed(logger, adapter.ToString(), $"active on {lease.Ref.Id} {lease.Ref.Version}");
            Report(adapter, ActivationStates.Active, null);
            return new ActivationResult(ActivationStates.Active, null);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private static void Move(string stagingFolder, string relative, string slot)
    {
        if (Directory.Exists(slot))
        {
            // Left by a failed attempt at the same version (never the active or previous slot here).
            Directory.Delete(slot, recursive: true);
        }

        Directory.CreateDirectory(slot);
        var source = Path.Combine(stagingFolder, relative.Replace('/', Path.DirectorySeparatorChar));
        File.Move(source, Path.Combine(slot, Path.GetFileName(relative)));
    }

    private ActivationResult Fail(AdapterState state, AdapterRef adapter, bool kept, string failedState, string reason)
    {
        var slots = adapters.Slots;
        var next = state with { LastFailure = new ActivationFailure(new SlotRef(adapter.Name, adapter.Version), failedState, reason, time.GetUtcNow()) };
        slots.WriteState(next);
        if (!kept)
        {
            slots.DeleteLeftovers(next);
        }

        AdapterLog.Installed(logger, adapter.ToString(), failedState + ": " + reason);
        Report(adapter, failedState, reason);
        return new ActivationResult(failedState, reason);
    }

    private ActivationResult Refuse(BundleManifest manifest, string reason)
    {
        events.Report(new ActivationEvent(manifest.Name, manifest.Version, UpdateStates.Refused, reason, time.GetUtcNow()));
        return new ActivationResult(UpdateStates.Refused, reason);
    }

    private void Report(AdapterRef adapter, string state, string? reason) =>
        events.Report(new ActivationEvent(adapter.Name, adapter.Version, state, reason, time.GetUtcNow()));
}
