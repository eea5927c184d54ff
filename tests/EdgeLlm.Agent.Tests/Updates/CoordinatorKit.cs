using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>The desired model, as a test sets it.</summary>
internal sealed class FixedDesired : IDesiredModel
{
    public ArtifactRef? DesiredModel { get; set; }

    public ArtifactRef? DesiredAdapter { get; set; }

    public ArtifactRef? DesiredConfig { get; set; }
}

/// <summary>"Downloads" by copying a local bundle into staging, as the downloader leaves it; counts fetches.</summary>
internal sealed class CopyFetcher(string dataDir) : IBundleFetcher
{
    public Dictionary<string, string> Sources { get; } = [];

    public int Fetches { get; private set; }

    public Task<string> FetchAsync(string sha256, CancellationToken cancellationToken)
    {
        Fetches++;
        if (!Sources.TryGetValue(sha256, out var source))
        {
            throw new DownloadFailedException($"artifact {sha256} is unknown");
        }

        var target = Downloader.BundlePath(dataDir, sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Copy(source, target, overwrite: true);
        return Task.FromResult(target);
    }
}

/// <summary>A <see cref="SlotKit"/> device (base 1.0.0 active) with a trusted publisher key, real bundles and a coordinator over them.</summary>
internal sealed class CoordinatorKit : IDisposable
{
    private readonly TempDir _files = TestPaths.NewTempDir();
    private readonly List<IDisposable> _owned = [];

    public CoordinatorKit(string? importFolder = null, int loraRank = 0)
    {
        Slots = new SlotKit(loraRank: loraRank);
        Adapters = new ActiveAdapter(Microsoft.Extensions.Options.Options.Create(Slots.Agent), NullLogger<ActiveAdapter>.Instance);
        AdapterInstaller = new AdapterInstaller(Slots.Active, Adapters, Slots.Events, TimeProvider.System, NullLogger<AdapterInstaller>.Instance);
        var pub = Path.Combine(_files.Path, "publisher.pub");
        File.WriteAllText(pub, Key.ExportPublicKeyPem());
        Outbox = new Outbox(Path.Combine(Slots.DataDir, "agent.db"), 10_000_000, TimeProvider.System);
        Fetcher = new CopyFetcher(Slots.DataDir);
        var options = new UpdateCoordinatorOptions { ImportFolder = importFolder };
        options.TrustedKeys.Add(pub);
        Options = options;
        Coordinator = NewCoordinator();
        _owned.AddRange([Coordinator, AdapterInstaller, Outbox, Key, OtherKey, Slots]);
    }

    public SlotKit Slots { get; }
    public ActiveAdapter Adapters { get; }
    public AdapterInstaller AdapterInstaller { get; }
    public UpdateCoordinatorOptions Options { get; }
    public BundleSigningKey Key { get; } = BundleSigningKey.Generate();
    public BundleSigningKey OtherKey { get; } = BundleSigningKey.Generate();
    public FixedDesired Desired { get; } = new();
    public CopyFetcher Fetcher { get; }
    public Outbox Outbox { get; }
    public UpdateCoordinator Coordinator { get; }
    public DeviceResources Resources { get; set; } = new(8L << 30, 100L << 30, "1.0.0");

    /// <summary>Writes a signed model bundle of a fresh tiny synthesized model; returns its path and SHA-256.</summary>
    public async Task<(string Path, string Sha256)> BundleAsync(string name, string version, BundleSmokeTest? smoke = null, BundleSigningKey? key = null, long minMemory = 0, string? folder = null)
    {
        var model = Path.Combine(_files.Path, $"model-{name}-{version}");
        if (!Directory.Exists(model))
        {
            SlotKit.Synthesize(model, seed: 3);
        }

        var path = Path.Combine(folder ?? _files.Path, $"{name}-{version}{Downloader.BundleExtension}");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var options = new BundleCreateOptions { Kind = BundleKind.Model, Name = name, Version = version, SmokeTest = smoke ?? SlotKit.Passing(), MinMemoryBytes = minMemory };
        var file = File.Create(path);
        await using (file)
        {
            await BundleWriter.CreateAsync(options, model, key ?? Key, file, TimeProvider.System, CancellationToken.None);
        }

        return (path, await ImportPipeline.HashFileAsync(path, CancellationToken.None));
    }

    /// <summary>A coordinator over the kit's device (a restart of the coordinator when the kit's one exists).</summary>
    public UpdateCoordinator NewCoordinator() =>
        new(Desired, Fetcher, Slots.Activator, Slots.Events, Outbox, () => Resources, Options, Slots.DataDir, TimeProvider.System,
            NullLogger<UpdateCoordinator>.Instance, [AdapterInstaller], Adapters);

    /// <summary>
    /// Writes a signed adapter bundle: a random LoRA adapter for the kit's base model (<paramref name="fitsFolder"/>: synthesized
    /// against that model folder instead), or <paramref name="files"/> as the payload when given.
    /// </summary>
    public async Task<(string Path, string Sha256)> AdapterBundleAsync(string name, string version, BundleSmokeTest? smoke = null, int seed = 7,
        string? fitsFolder = null, IReadOnlyDictionary<string, string>? files = null)
    {
        var payload = Path.Combine(_files.Path, $"adapter-{name}-{version}-{seed}");
        Directory.CreateDirectory(payload);
        if (files is null)
        {
            AdapterSynthesizer.Synthesize(fitsFolder ?? Slots.Slots.PathOf(SlotKit.Base), Path.Combine(payload, name + ".onnx_adapter"), seed);
        }
        else
        {
            foreach (var (name2, text) in files)
            {
                File.WriteAllText(Path.Combine(payload, name2), text);
            }
        }

        var path = Path.Combine(_files.Path, $"{name}-{version}-{seed}{Downloader.BundleExtension}");
        var options = new BundleCreateOptions { Kind = BundleKind.Adapter, Name = name, Version = version, SmokeTest = smoke ?? SlotKit.Passing() };
        var file = File.Create(path);
        await using (file)
        {
            await BundleWriter.CreateAsync(options, payload, Key, file, TimeProvider.System, CancellationToken.None);
        }

        Fetcher.Sources[await ImportPipeline.HashFileAsync(path, CancellationToken.None)] = path;
        return (path, await ImportPipeline.HashFileAsync(path, CancellationToken.None));
    }

    /// <summary>Names the bundle in the desired state (and lets the fake fetcher find it).</summary>
    public void Desire(string name, string version, (string Path, string Sha256) bundle)
    {
        Fetcher.Sources[bundle.Sha256] = bundle.Path;
        Desired.DesiredModel = new ArtifactRef { Name = name, Version = version, Sha256 = bundle.Sha256 };
    }

    /// <summary>Files left in staging/ (none after any outcome).</summary>
    public IReadOnlyList<string> StagingLeftovers()
    {
        var staging = Path.Combine(Slots.DataDir, Downloader.StagingFolder);
        return Directory.Exists(staging) ? [.. Directory.EnumerateFileSystemEntries(staging).Where(e => !e.Contains("unpacked-", StringComparison.Ordinal))] : [];
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        _files.Dispose();
    }
}
