using System.Globalization;
using System.Runtime.InteropServices;

namespace EdgeLlm.Runtime.Onnx;

/// <summary>
/// Collects nodes, initializers and graph inputs/outputs, names node outputs the way onnxruntime-genai's
/// model builder does (<c>{node name}/output_{i}</c>) and shares small constant initializers by value.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    public const string MicrosoftDomain = "com.microsoft";

    private readonly List<OnnxNode> _nodes = [];
    private readonly List<OnnxTensor> _initializers = [];
    private readonly List<OnnxValueInfo> _inputs = [];
    private readonly List<OnnxValueInfo> _outputs = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public void AddInput(OnnxValueInfo input) => _inputs.Add(input);

    public void AddOutput(OnnxValueInfo output) => _outputs.Add(output);

    public void AddInitializer(OnnxTensor tensor)
    {
        if (!_names.Add(tensor.Name))
        {
            throw new InvalidOperationException($"Duplicate initializer '{tensor.Name}'.");
        }

        _initializers.Add(tensor);
    }

    /// <summary>Adds a node whose outputs are named <c>{name}/output_0</c>, … and returns the first.</summary>
    public string Add(string opType, string name, IReadOnlyList<string> inputs, string domain = "", int outputCount = 1, params OnnxAttribute[] attributes)
    {
        var outputs = new string[outputCount];
        for (var i = 0; i < outputCount; i++)
        {
            outputs[i] = $"{name}/output_{i}";
        }

        AddWithOutputs(opType, name, inputs, outputs, domain, attributes);
        return outputs[0];
    }

    /// <summary>Adds a node with explicitly named outputs (graph outputs, or "" for omitted optional ones).</summary>
    public void AddWithOutputs(string opType, string name, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, string domain = "", params OnnxAttribute[] attributes)
    {
        if (!_names.Add(name))
        {
            throw new InvalidOperationException($"Duplicate node name '{name}'.");
        }

        _nodes.Add(new OnnxNode { OpType = opType, Name = name, Domain = domain, Inputs = inputs, Outputs = outputs, Attributes = attributes });
    }

    /// <summary>An int64 constant initializer (a 0-D scalar or a 1-D vector), created once per value.</summary>
    public string Int64Constant(bool scalar, params long[] values)
    {
        if (scalar && values.Length != 1)
        {
            throw new ArgumentException("A scalar constant has exactly one value.", nameof(values));
        }

        var name = $"/model/constants/TensorProto.INT64/{(scalar ? "0D" : "1D")}/{string.Join(", ", values.Select(v => v.ToString(CultureInfo.InvariantCulture)))}";
        if (_names.Contains(name))
        {
            return name;
        }

        AddInitializer(new OnnxTensor
        {
            Name = name,
            DataType = OnnxDataType.Int64,
            Dims = scalar ? [] : [values.Length],
            RawData = MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
        });
        return name;
    }

    public OnnxGraph Build(string name) => new()
    {
        Name = name,
        Nodes = _nodes.ToArray(),
        Initializers = _initializers.ToArray(),
        Inputs = _inputs.ToArray(),
        Outputs = _outputs.ToArray(),
    };
}
