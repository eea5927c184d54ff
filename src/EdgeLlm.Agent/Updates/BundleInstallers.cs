using EdgeLlm.Contracts.Bundles;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// Installs one kind of verified, unpacked bundle other than a model (those go to <see cref="ModelActivator"/>):
/// adapters, manuals, config. <see cref="ImportPipeline"/> picks the installer by <see cref="Kind"/> after every signature,
/// size and hash has been checked; the staging folder holds the payload files at the paths the manifest lists, and is
/// deleted by the pipeline afterwards (an installer may move it, or files out of it, first). The installer reports its
/// own steps through <see cref="IActivationEvents"/> and leaves what served before serving when it fails.
/// </summary>
internal interface IBundleInstaller
{
    BundleKind Kind { get; }

    Task<ActivationResult> InstallAsync(string stagingFolder, BundleManifest manifest, CancellationToken cancellationToken);
}
