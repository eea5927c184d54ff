using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Providers;
using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.Runtime.Tests.Generation;

/// <summary>
/// Tiny random-weight qwen2 decoders (fp32 and int4) synthesized once for all tests of the collection, loaded on
/// one CPU thread, plus copies of them with an edited genai_config.json.
/// </summary>
public sealed class TinyModelFixture : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly ConcurrentDictionary<string, Lazy<OnnxModel>> _models = new(StringComparer.Ordinal);
    private int _copies;

    /// <summary>
    /// One CPU thread, prefix cache off: the shared models' tests compare runs for exact equality, and a prefix-cache
    /// hit changes the last bits of the logits (the prompt runs in different pieces). PrefixCacheTests turn it on.
    /// </summary>
    internal static RuntimeOptions OneThread => new() { IntraOpNumThreads = 1, ProviderPolicy = ProviderPolicy.CpuOnly, PrefixCacheBytes = 0 };

    /// <summary>The folder of the tiny model with weights <paramref name="quant"/> (fp32 or int4).</summary>
    public string Folder(string quant)
    {
        var folder = Path.Combine(_dir.Path, quant);
        lock (_models)
        {
            if (!File.Exists(Path.Combine(folder, GenAiConfig.FileName)))
            {
                ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", quant, folder, Seed: 7));
            }
        }

        return folder;
    }

    /// <summary>The loaded tiny model, shared by the tests; don't dispose it.</summary>
    internal OnnxModel Model(string quant) =>
        _models.GetOrAdd(quant, q => new Lazy<OnnxModel>(() => OnnxModel.Load(Folder(q), OneThread))).Value;

    /// <summary>A copy of the tiny model folder (the weights linked, not copied) whose genai_config.json <paramref name="edit"/> changes.</summary>
    public string CopyWithConfig(string quant, Action<JsonObject> edit)
    {
        var source = Folder(quant);
        var copy = Path.Combine(_dir.Path, $"copy{Interlocked.Increment(ref _copies)}");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(source))
        {
            var target = Path.Combine(copy, Path.GetFileName(file));
            if (Path.GetFileName(file) == GenAiConfig.FileName)
            {
                var config = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
                edit(config);
                File.WriteAllText(target, config.ToJsonString());
            }
            else
            {
                File.CreateSymbolicLink(target, file);
            }
        }

        return copy;
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

[CollectionDefinition(Name)]
public sealed class TinyModels : ICollectionFixture<TinyModelFixture>
{
    public const string Name = "tiny models";
}
