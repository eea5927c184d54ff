using System.Runtime.InteropServices;

namespace EdgeLlm.Runtime.Adapters;

/// <summary>One named tensor of an adapter: the value that replaces the model input of the same name while the adapter is active.</summary>
/// <param name="Name">The model input it feeds, e.g. <c>model.layers.0.attn.qkv_proj.lora_A.MatMul.weight</c>.</param>
/// <param name="Dims">Its shape.</param>
/// <param name="DataType">Its element type.</param>
/// <param name="Data">Its elements, little-endian, row-major: exactly element count × element size bytes.</param>
internal sealed record AdapterParameter(string Name, IReadOnlyList<long> Dims, AdapterDataType DataType, ReadOnlyMemory<byte> Data)
{
    /// <summary>A float32 parameter holding <paramref name="values"/> (copied).</summary>
    public static AdapterParameter Floats(string name, IReadOnlyList<long> dims, ReadOnlySpan<float> values) =>
        new(name, dims, AdapterDataType.Float, MemoryMarshal.AsBytes(values).ToArray());

    /// <summary>The elements of a float32 parameter.</summary>
    public float[] ToFloats()
    {
        if (DataType != AdapterDataType.Float)
        {
            throw new InvalidOperationException($"Adapter parameter '{Name}' holds {DataType}, not float32.");
        }

        return MemoryMarshal.Cast<byte, float>(Data.Span).ToArray();
    }

    /// <summary>
    /// Element count × element size, or -1 when there are no dims (ONNX Runtime takes no scalars in an adapter), a
    /// dimension is negative, the type is not a valid parameter type, or the size overflows.
    /// </summary>
    internal long ExpectedBytes()
    {
        long size = AdapterDataTypes.ElementSize(DataType);
        if (size == 0 || Dims.Count == 0)
        {
            return -1;
        }

        foreach (var dim in Dims)
        {
            if (dim < 0)
            {
                return -1;
            }

            try
            {
                size = checked(size * dim);
            }
            catch (OverflowException)
            {
                return -1;
            }
        }

        return size;
    }

    internal string Shape => $"[{string.Join(", ", Dims)}]";
}

/// <summary>The contents of an <c>.onnx_adapter</c> file.</summary>
/// <param name="FormatVersion">Version of the file format; ONNX Runtime 1.31 reads version 1 only.</param>
/// <param name="AdapterVersion">The adapter's own version, as its publisher set it.</param>
/// <param name="ModelVersion">The version of the model the adapter was made for, as its publisher set it.</param>
/// <param name="Parameters">The tensors, in file order.</param>
internal sealed record AdapterContents(int FormatVersion, int AdapterVersion, int ModelVersion, IReadOnlyList<AdapterParameter> Parameters);
