using System.Collections.Concurrent;
using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests.Generation;

namespace EdgeLlm.Runtime.Tests.Adapters;

/// <summary>
/// Tiny qwen2 decoders synthesized once for the adapter tests, all from seed 7 so their base weights are identical:
/// the plain model, the same model with LoRA branches (rank 4), and "baked" references whose LoRA inputs default to
/// the values of adapter a or b, so that with no adapter active they compute what the LoRA model computes with it.
/// </summary>
public sealed class LoraModelFixture : IDisposable
{
    public const int Rank = 4;

    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly ConcurrentDictionary<string, Lazy<OnnxModel>> _models = new(StringComparer.Ordinal);
    private readonly Lazy<string> _adapterA;
    private readonly Lazy<string> _adapterB;
    private int _copies;

    public LoraModelFixture()
    {
        _adapterA = new(() => WriteAdapter("a", seed: 1));
        _adapterB = new(() => WriteAdapter("b", seed: 2));
    }

    /// <summary>A random rank-4 adapter for the LoRA models.</summary>
    public string AdapterA => _adapterA.Value;

    /// <summary>Another, from a different seed.</summary>
    public string AdapterB => _adapterB.Value;

    public string Dir => _dir.Path;

    /// <summary>The folder of a model: base, lora, baked-a or baked-b, with fp32 or int4 weights.</summary>
    public string Folder(string kind, string quant = "fp32")
    {
        var folder = Path.Combine(_dir.Path, $"{kind}-{quant}");
        lock (_models)
        {
            if (!Directory.Exists(folder))
            {
                var options = new SynthesisOptions("qwen2", "tiny", quant, folder, Seed: 7);
                options = kind switch
                {
                    "base" => options,
                    "lora" => options with { LoraRank = Rank },
                    "baked-a" => options with { LoraRank = Rank, LoraDefaults = AdapterA },
                    "baked-b" => options with { LoraRank = Rank, LoraDefaults = AdapterB },
                    _ => throw new ArgumentException(kind, nameof(kind)),
                };
                ModelSynthesizer.Synthesize(options);
            }
        }

        return folder;
    }

    /// <summary>The loaded model, shared by the tests; don't dispose it.</summary>
    internal OnnxModel Model(string kind, string quant = "fp32") =>
        _models.GetOrAdd($"{kind}-{quant}", _ => new Lazy<OnnxModel>(() => OnnxModel.Load(Folder(kind, quant), TinyModelFixture.OneThread))).Value;

    /// <summary>The shared LoRA model with adapters a and b loaded under those names.</summary>
    internal OnnxModel LoraWithAdapters(string quant = "fp32") =>
        _models.GetOrAdd($"lora+ab-{quant}", _ => new Lazy<OnnxModel>(() =>
        {
            var model = OnnxModel.Load(Folder("lora", quant), TinyModelFixture.OneThread);
            model.Adapters.Load("a", AdapterA);
            model.Adapters.Load("b", AdapterB);
            return model;
        })).Value;

    /// <summary>A new folder linking to the files of model <paramref name="kind"/>, to which a test may add an adapters/ folder.</summary>
    public string LinkedCopy(string kind)
    {
        var source = Folder(kind);
        var copy = Path.Combine(_dir.Path, $"copy{Interlocked.Increment(ref _copies)}");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(source))
        {
            File.CreateSymbolicLink(Path.Combine(copy, Path.GetFileName(file)), file);
        }

        return copy;
    }

    /// <summary>Writes an adapter with the given parameters to a new file of the fixture's folder.</summary>
    internal string Write(string name, params AdapterParameter[] parameters)
    {
        var path = Path.Combine(_dir.Path, name + AdapterFile.Extension);
        AdapterFile.Write(path, parameters);
        return path;
    }

    private string WriteAdapter(string name, int seed)
    {
        var path = Path.Combine(_dir.Path, name + AdapterFile.Extension);
        AdapterSynthesizer.Synthesize(Folder("lora"), path, seed);
        return path;
    }

    public void Dispose()
    {
        foreach (var model in _models.Values)
        {
            if (model.IsValueCreated)
            {
                model.Value.Dispose();
            }
        }

        _dir.Dispose();
    }
}
