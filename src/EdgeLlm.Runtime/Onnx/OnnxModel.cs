namespace EdgeLlm.Runtime.Onnx;

/// <summary>Element types of <c>TensorProto.DataType</c> (values from onnx.proto).</summary>
internal enum OnnxDataType
{
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
    Float16 = 10,
}

/// <summary>A whole model: <c>ModelProto</c>.</summary>
internal sealed record OnnxModel
{
    /// <summary>IR version 10 is what ONNX 1.16+ writes and what ONNX Runtime 1.17+ reads.</summary>
    public long IrVersion { get; init; } = 10;
    public required IReadOnlyList<OnnxOpset> Opsets { get; init; }
    public string ProducerName { get; init; } = "edgellm";
    public string ProducerVersion { get; init; } = "";
    public required OnnxGraph Graph { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; init; } = [];
}

/// <summary><c>OperatorSetIdProto</c>: an empty domain means ai.onnx.</summary>
internal sealed record OnnxOpset(string Domain, long Version);

/// <summary><c>GraphProto</c>.</summary>
internal sealed record OnnxGraph
{
    public required string Name { get; init; }
    public required IReadOnlyList<OnnxNode> Nodes { get; init; }
    public required IReadOnlyList<OnnxTensor> Initializers { get; init; }
    public required IReadOnlyList<OnnxValueInfo> Inputs { get; init; }
    public required IReadOnlyList<OnnxValueInfo> Outputs { get; init; }
    public IReadOnlyList<OnnxValueInfo> ValueInfo { get; init; } = [];
}

/// <summary><c>NodeProto</c>. An empty string in <see cref="Inputs"/> or <see cref="Outputs"/> is an omitted optional slot.</summary>
internal sealed record OnnxNode
{
    public required string OpType { get; init; }
    public required string Name { get; init; }
    public string Domain { get; init; } = "";
    public required IReadOnlyList<string> Inputs { get; init; }
    public required IReadOnlyList<string> Outputs { get; init; }
    public IReadOnlyList<OnnxAttribute> Attributes { get; init; } = [];
}

/// <summary>Kinds of <c>AttributeProto.AttributeType</c> this writer supports (values from onnx.proto).</summary>
internal enum OnnxAttributeType
{
    Float = 1,
    Int = 2,
    String = 3,
    Tensor = 4,
    Floats = 6,
    Ints = 7,
}

/// <summary><c>AttributeProto</c>; create with the static factories.</summary>
internal sealed record OnnxAttribute
{
    private OnnxAttribute(string name, OnnxAttributeType type)
    {
        Name = name;
        Type = type;
    }

    public string Name { get; }
    public OnnxAttributeType Type { get; }
    public float FloatValue { get; private init; }
    public long IntValue { get; private init; }
    public string StringValue { get; private init; } = "";
    public OnnxTensor? TensorValue { get; private init; }
    public IReadOnlyList<float> FloatValues { get; private init; } = [];
    public IReadOnlyList<long> IntValues { get; private init; } = [];

    public static OnnxAttribute Of(string name, float value) => new(name, OnnxAttributeType.Float) { FloatValue = value };
    public static OnnxAttribute Of(string name, long value) => new(name, OnnxAttributeType.Int) { IntValue = value };
    public static OnnxAttribute Of(string name, string value) => new(name, OnnxAttributeType.String) { StringValue = value };
    public static OnnxAttribute Of(string name, OnnxTensor value) => new(name, OnnxAttributeType.Tensor) { TensorValue = value };
    public static OnnxAttribute Of(string name, IReadOnlyList<float> values) => new(name, OnnxAttributeType.Floats) { FloatValues = values };
    public static OnnxAttribute Of(string name, IReadOnlyList<long> values) => new(name, OnnxAttributeType.Ints) { IntValues = values };
}

/// <summary>Where an initializer's bytes live in the external data file.</summary>
internal sealed record OnnxExternalData(string Location, long Offset, long Length);

/// <summary>
/// <c>TensorProto</c>: either inline (<see cref="RawData"/>, little-endian as ONNX requires) or
/// external (<see cref="External"/>, <c>data_location = EXTERNAL</c>).
/// </summary>
internal sealed record OnnxTensor
{
    public required string Name { get; init; }
    public required OnnxDataType DataType { get; init; }
    public required IReadOnlyList<long> Dims { get; init; }
    public ReadOnlyMemory<byte> RawData { get; init; }
    public OnnxExternalData? External { get; init; }
}

/// <summary>One dimension of a value's shape: a fixed size or a symbolic name.</summary>
internal readonly record struct OnnxDim(long? Value, string? Param)
{
    public static implicit operator OnnxDim(long value) => new(value, null);
    public static implicit operator OnnxDim(string param) => new(null, param);
}

/// <summary><c>ValueInfoProto</c> of a tensor: name, element type and shape.</summary>
internal sealed record OnnxValueInfo(string Name, OnnxDataType DataType, IReadOnlyList<OnnxDim> Shape);
