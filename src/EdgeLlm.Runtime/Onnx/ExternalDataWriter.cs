namespace EdgeLlm.Runtime.Onnx;

/// <summary>
/// Streams initializer bytes into one external data file (e.g. <c>model.onnx.data</c>) so that no
/// weight matrix has to be held in memory whole. Each tensor starts at a multiple of
/// <see cref="Alignment"/>, which lets ONNX Runtime map the file instead of copying it.
/// Tensors smaller than <see cref="InlineThreshold"/> stay inline in the model, as onnx's own
/// external-data conversion does.
/// </summary>
internal sealed class ExternalDataWriter : IDisposable
{
    /// <summary>Offset alignment of every external tensor: 4096, the page size on Linux.</summary>
    public const int Alignment = 4096;

    /// <summary>Tensors below 1024 bytes are written inline (onnx's default threshold).</summary>
    public const int InlineThreshold = 1024;

    private readonly FileStream _file;
    private readonly string _location;
    private long _tensorStart = -1;

    /// <param name="path">The data file to create (replaced if present).</param>
    /// <param name="location">The name recorded in <c>external_data.location</c>, relative to the model file.</param>
    public ExternalDataWriter(string path, string location)
    {
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        _location = location;
    }

    /// <summary>Bytes written so far, padding included.</summary>
    public long Length => _file.Length;

    /// <summary>Starts a tensor: pads the file to the alignment. Write its bytes with <see cref="Write"/>.</summary>
    public void BeginTensor()
    {
        if (_tensorStart >= 0)
        {
            throw new InvalidOperationException("The previous tensor was not finished with EndTensor.");
        }

        var pad = (int)((Alignment - (_file.Position % Alignment)) % Alignment);
        if (pad > 0)
        {
            Span<byte> zeros = stackalloc byte[Alignment];
            zeros.Clear();
            _file.Write(zeros[..pad]);
        }

        _tensorStart = _file.Position;
    }

    public void Write(ReadOnlySpan<byte> bytes) => _file.Write(bytes);

    /// <summary>Finishes the tensor begun with <see cref="BeginTensor"/> and describes where it lies.</summary>
    public OnnxTensor EndTensor(string name, OnnxDataType dataType, IReadOnlyList<long> dims)
    {
        if (_tensorStart < 0)
        {
            throw new InvalidOperationException("EndTensor without BeginTensor.");
        }

        var external = new OnnxExternalData(_location, _tensorStart, _file.Position - _tensorStart);
        _tensorStart = -1;
        return new OnnxTensor { Name = name, DataType = dataType, Dims = dims, External = external };
    }

    public void Dispose() => _file.Dispose();
}
