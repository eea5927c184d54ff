using System.Text.Json;
using EdgeLlm.Runtime.Adapters;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// Writes random LoRA adapters (<c>.onnx_adapter</c>) for models synthesized with a LoRA rank, so adapter loading,
/// switching and its cost can be tested and measured without a fine-tuned checkpoint.
/// </summary>
internal static class AdapterSynthesizer
{
    /// <summary>The field of edgellm_synth.json recording <see cref="SynthesisOptions.LoraRank"/>.</summary>
    public const string LoraRankField = "lora_rank";

    /// <summary>
    /// Writes a random adapter for the LoRA model in <paramref name="modelFolder"/> (one written by
    /// <see cref="ModelSynthesizer.Synthesize"/> with a LoRA rank) to <paramref name="outputPath"/>: A and B factors
    /// for every LoRA input, of rank <paramref name="rank"/> (default: the model's <c>lora_rank</c>). The same seed
    /// gives the same file; different seeds give different adapters.
    /// </summary>
    /// <returns>The parameters written.</returns>
    /// <exception cref="ArgumentException">The folder holds no synthesized LoRA model, or the rank is not positive.</exception>
    public static IReadOnlyList<AdapterParameter> Synthesize(string modelFolder, string outputPath, int seed, int? rank = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelFolder);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputPath);
        var (shape, modelRank) = ReadSynthInfo(modelFolder);
        var r = rank ?? modelRank;
        if (r <= 0)
        {
            throw new ArgumentException(
                $"The model in '{modelFolder}' was synthesized without LoRA branches; synthesize it with a LoRA rank above 0 (SynthesisOptions.LoraRank).", nameof(modelFolder));
        }

        var parameters = new List<AdapterParameter>();
        foreach (var (module, k, n) in LoraBranches.Targets(shape))
        {
            // A spreads the normalized input over r directions with unit variance; B maps them back at half the
            // scale of the base projection's output, so the adapter changes the logits clearly without swamping them.
            parameters.Add(RandomFactor(LoraNames.A(module), k, r, 1f / MathF.Sqrt(k), seed));
            parameters.Add(RandomFactor(LoraNames.B(module), r, n, 0.5f / MathF.Sqrt(r), seed));
        }

        AdapterFile.Write(outputPath, parameters);
        return parameters;
    }

    /// <summary>The adapter named by <see cref="SynthesisOptions.LoraDefaults"/>, checked against the LoRA inputs of <paramref name="shape"/>; null when none.</summary>
    internal static IReadOnlyDictionary<string, AdapterParameter>? ReadDefaults(SynthesisOptions options, ModelShape shape)
    {
        if (options.LoraRank < 0)
        {
            throw new ArgumentException($"The LoRA rank is {options.LoraRank}; give 0 (no LoRA) or a positive rank.", nameof(options));
        }

        if (options.LoraDefaults is null)
        {
            return null;
        }

        if (options.LoraRank == 0)
        {
            throw new ArgumentException("LoRA defaults need a model with LoRA branches; give a LoRA rank above 0 too.", nameof(options));
        }

        var adapter = AdapterFile.Read(options.LoraDefaults);
        var inputs = LoraBranches.Targets(shape).SelectMany(t => new[] { LoraNames.A(t.Module), LoraNames.B(t.Module) }).ToHashSet(StringComparer.Ordinal);
        var unknown = adapter.Parameters.FirstOrDefault(p => !inputs.Contains(p.Name));
        if (unknown is not null)
        {
            throw new AdapterFileException(Path.GetFullPath(options.LoraDefaults),
                $"parameter '{unknown.Name}' is not a LoRA input of a synthesized {shape.Name} model; use an adapter written for this shape.");
        }

        return adapter.Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    private static AdapterParameter RandomFactor(string name, int rows, int columns, float std, int seed)
    {
        var values = new float[rows * columns];
        new WeightRandom(seed, name).FillNormal(values, 0, std);
        return AdapterParameter.Floats(name, [rows, columns], values);
    }

    private static (ModelShape Shape, int LoraRank) ReadSynthInfo(string modelFolder)
    {
        var path = Path.Combine(Path.GetFullPath(modelFolder), ModelSynthesizer.SynthInfoFile);
        if (!File.Exists(path))
        {
            throw new ArgumentException($"'{modelFolder}' holds no {ModelSynthesizer.SynthInfoFile}; random adapters are written for models `edgellm model synth` wrote.", nameof(modelFolder));
        }

        using var json = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = json.RootElement;
        var shapeName = root.TryGetProperty("shape", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        var shape = ModelShape.All.FirstOrDefault(x => x.Name == shapeName)
            ?? throw new ArgumentException($"{path}: field 'shape' is '{shapeName}', not one of {string.Join(", ", ModelSynthesizer.Shapes)}.", nameof(modelFolder));
        var rank = root.TryGetProperty(LoraRankField, out var r) && r.TryGetInt32(out var value) ? value : 0;
        return (shape, rank);
    }
}
