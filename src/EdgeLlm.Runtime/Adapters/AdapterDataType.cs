namespace EdgeLlm.Runtime.Adapters;

/// <summary>
/// Element types of an adapter parameter: <c>TensorDataType</c> of ONNX Runtime's adapter schema, whose values are
/// those of ONNX's <c>TensorProto.DataType</c> (and so of <see cref="Microsoft.ML.OnnxRuntime.Tensors.TensorElementType"/>).
/// Only the types ONNX Runtime 1.31 accepts in an adapter are listed: the schema also has string (8), bool (9) and
/// complex64/128 (14, 15), which it refuses.
/// </summary>
internal enum AdapterDataType
{
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    BFloat16 = 16,
    Float8E4M3FN = 17,
    Float8E4M3FNUZ = 18,
    Float8E5M2 = 19,
    Float8E5M2FNUZ = 20,
}

internal static class AdapterDataTypes
{
    /// <summary>Bytes per element, or 0 for a value that is not a valid parameter type.</summary>
    public static int ElementSize(AdapterDataType type) => type switch
    {
        AdapterDataType.UInt8 or AdapterDataType.Int8
            or AdapterDataType.Float8E4M3FN or AdapterDataType.Float8E4M3FNUZ
            or AdapterDataType.Float8E5M2 or AdapterDataType.Float8E5M2FNUZ => 1,
        AdapterDataType.UInt16 or AdapterDataType.Int16 or AdapterDataType.Float16 or AdapterDataType.BFloat16 => 2,
        AdapterDataType.Float or AdapterDataType.Int32 or AdapterDataType.UInt32 => 4,
        AdapterDataType.Int64 or AdapterDataType.UInt64 or AdapterDataType.Double => 8,
        _ => 0,
    };
}
