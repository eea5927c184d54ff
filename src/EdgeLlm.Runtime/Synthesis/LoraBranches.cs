using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.Onnx;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// Adds LoRA branches next to projections as onnxruntime-genai's model builder does for a LoRA model
/// (<c>{node}/lora_A/MatMul</c> → <c>{node}/lora_B/MatMul</c> → <c>{node}/lora/Add</c> onto the base MatMul's output),
/// with the factors as graph inputs named by <see cref="LoraNames"/> so an adapter can replace them per run.
/// </summary>
/// <remarks>
/// The factors' rank dimension is symbolic (<see cref="RankDim"/>), so adapters of any rank fit. Each input also has
/// a default initializer, which makes it an overridable initializer rather than a required input: by default an
/// empty [in, 0] / [0, out] pair, whose product is exactly zero, so with no adapter active the output is the base
/// model's bit for bit and the branch costs next to nothing. <paramref name="defaults"/> replaces those with an
/// adapter's values, which bakes that adapter in (used to build reference models).
/// </remarks>
internal sealed class LoraBranches(OnnxGraphBuilder graph, IReadOnlyDictionary<string, AdapterParameter>? defaults)
{
    /// <summary>The symbolic name of the rank dimension.</summary>
    public const string RankDim = "lora_rank";

    public static string QkvModule(int layer) => $"model.layers.{layer}.attn.qkv_proj";

    public static string OutModule(int layer) => $"model.layers.{layer}.attn.o_proj";

    /// <summary>The projections that get a branch, with their input and output sizes: each layer's packed Q/K/V and output projections.</summary>
    public static IEnumerable<(string Module, int In, int Out)> Targets(ModelShape shape)
    {
        for (var layer = 0; layer < shape.Layers; layer++)
        {
            yield return (QkvModule(layer), shape.HiddenSize, shape.QSize + (2 * shape.KvSize));
            yield return (OutModule(layer), shape.QSize, shape.HiddenSize);
        }
    }

    /// <summary>
    /// Adds <c>baseOutput + (input · A) · B</c> for the [*, k] × [k, n] projection <paramref name="module"/> and returns
    /// its name; <paramref name="nodePrefix"/> is the base projection's node path without <c>/MatMul</c>, e.g.
    /// <c>/model/layers.0/attn/qkv_proj</c>.
    /// </summary>
    public string Add(string nodePrefix, string module, string input, string baseOutput, int k, int n)
    {
        var a = Factor(LoraNames.A(module), [k, RankDim], [k, 0]);
        var b = Factor(LoraNames.B(module), [RankDim, n], [0, n]);
        var down = graph.Add("MatMul", $"{nodePrefix}/lora_A/MatMul", [input, a]);
        var up = graph.Add("MatMul", $"{nodePrefix}/lora_B/MatMul", [down, b]);
        return graph.Add("Add", $"{nodePrefix}/lora/Add", [baseOutput, up]);
    }

    private string Factor(string name, OnnxDim[] declared, long[] empty)
    {
        graph.AddInput(new OnnxValueInfo(name, OnnxDataType.Float, declared));
        if (defaults is not null && defaults.TryGetValue(name, out var value))
        {
            CheckDefault(value, declared);
            graph.AddInitializer(new OnnxTensor { Name = name, DataType = OnnxDataType.Float, Dims = value.Dims, RawData = value.Data });
        }
        else
        {
            graph.AddInitializer(new OnnxTensor { Name = name, DataType = OnnxDataType.Float, Dims = empty });
        }

        return name;
    }

    private static void CheckDefault(AdapterParameter value, OnnxDim[] declared)
    {
        var fits = value.DataType == AdapterDataType.Float && value.Dims.Count == declared.Length
            && declared.Select((d, i) => d.Value is null || d.Value == value.Dims[i]).All(ok => ok);
        if (!fits)
        {
            throw new ArgumentException(
                $"LoRA default '{value.Name}' is {value.DataType} {value.Shape}; the model's input is float [{string.Join(", ", declared.Select(d => d.Value?.ToString() ?? d.Param))}].",
                nameof(value));
        }
    }
}
