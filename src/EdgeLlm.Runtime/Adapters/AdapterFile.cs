using System.Buffers.Binary;
using System.Text;

namespace EdgeLlm.Runtime.Adapters;

/// <summary>
/// Reads and writes ONNX Runtime's LoRA adapter files (<c>.onnx_adapter</c>): a FlatBuffers buffer with file
/// identifier <c>TORT</c> whose root table is <c>Adapter { format_version:int; adapter_version:int; model_version:int;
/// parameters:[Parameter] }</c>, each <c>Parameter { name:string; dims:[int64]; data_type:TensorDataType(int32);
/// raw_data:[uint8] (force_align: 8) }</c> (onnxruntime/lora/adapter_format/adapter_schema.fbs).
/// </summary>
/// <remarks>
/// ONNX Runtime maps the file and makes tensors directly over <c>raw_data</c>, so the reader checks everything its
/// FlatBuffers verifier checks (bounds, alignment, terminators) and also what it takes on trust and would crash on
/// or misread: missing name, dims or data, unknown types, and dims that claim more bytes than the data holds.
/// </remarks>
internal static class AdapterFile
{
    /// <summary>The conventional file extension.</summary>
    public const string Extension = ".onnx_adapter";

    /// <summary>The only format version ONNX Runtime 1.31 reads.</summary>
    public const int FormatVersion = 1;

    private const string Identifier = "TORT";

    // Both tables have four fields of four bytes after their vtable offset, so one vtable shape serves both:
    // [vtable size, table size, offset of field 0..3].
    private const int FieldCount = 4;
    private const int VTableSize = 4 + (2 * FieldCount);
    private const int TableSize = 4 + (4 * FieldCount);
    private const int HeaderSize = 8;
    private const int AdapterVTable = HeaderSize;
    private const int ParameterVTable = AdapterVTable + VTableSize;
    private const int AdapterTable = ParameterVTable + VTableSize;
    private const int ParameterVector = AdapterTable + TableSize;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Writes <paramref name="parameters"/> to <paramref name="path"/> (replaced atomically if present: the file is
    /// written beside it and moved into place).
    /// </summary>
    /// <exception cref="ArgumentException">No parameters, a duplicate or empty name, an invalid type, or data that does not match the dims.</exception>
    public static void Write(string path, IReadOnlyList<AdapterParameter> parameters, int adapterVersion = 1, int modelVersion = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(parameters);
        CheckParameters(parameters);

        var names = parameters.Select(p => Encoding.UTF8.GetBytes(p.Name)).ToArray();
        var layout = Plan(parameters, names);
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var w = new Writer(stream);
                WriteBuffer(w, parameters, names, layout, adapterVersion, modelVersion);
                if (w.Position != layout.Length)
                {
                    throw new InvalidOperationException($"Adapter layout error: wrote {w.Position} bytes of {layout.Length}.");
                }
            }

            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Reads and checks the adapter file at <paramref name="path"/>. The parameters' data are slices of one pinned
    /// array holding the file, so native tensors can view them in place.
    /// </summary>
    /// <exception cref="AdapterFileException">The file cannot be read or is not a well-formed adapter; the message names the file and the part at fault.</exception>
    public static AdapterContents Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        byte[] bytes;
        try
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            if (stream.Length > int.MaxValue)
            {
                throw new AdapterFileException(full, $"is {stream.Length} bytes, more than the 2 GB a FlatBuffer can address; it is not an adapter.");
            }

            bytes = GC.AllocateUninitializedArray<byte>((int)stream.Length, pinned: true);
            stream.ReadExactly(bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AdapterFileException(full, $"cannot be read ({ex.Message}).", ex);
        }

        return Parse(bytes, full);
    }

    /// <summary>Parses an adapter held in memory; <paramref name="file"/> names it in errors. Parameter data are slices of <paramref name="bytes"/>.</summary>
    /// <exception cref="AdapterFileException">Not a well-formed adapter.</exception>
    public static AdapterContents Parse(byte[] bytes, string file)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var r = new Reader(bytes, file);
        if (bytes.Length < HeaderSize || Encoding.ASCII.GetString(bytes, 4, 4) != Identifier)
        {
            throw r.Fail($"is not an ONNX Runtime adapter (it is {bytes.Length} bytes and lacks the '{Identifier}' file identifier at offset 4); " +
                "give an .onnx_adapter file written by ONNX Runtime, Olive or `edgellm`.");
        }

        var root = r.Table(r.Offset(0, "root table offset"), "the root table (Adapter)");
        var formatVersion = r.Int32(root, 0, "format_version");
        if (formatVersion != FormatVersion)
        {
            throw r.Fail($"has format_version {formatVersion}; ONNX Runtime 1.31 reads format version {FormatVersion} only. Re-export the adapter with a matching ONNX Runtime.");
        }

        var adapterVersion = r.Int32(root, 1, "adapter_version");
        var modelVersion = r.Int32(root, 2, "model_version");
        var vector = r.Reference(root, 3, "parameters")
            ?? throw r.Fail("has no parameters field; an adapter must hold at least one parameter.");
        var (first, count) = r.Vector(vector, 4, "the parameters vector");
        if (count == 0)
        {
            throw r.Fail("has an empty parameters vector; an adapter must hold at least one parameter.");
        }

        var parameters = new AdapterParameter[count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var slot = first + (4 * i);
            var what = $"parameter {i}";
            var table = r.Table(r.Offset(slot, what), what);
            var name = r.String(r.Reference(table, 0, $"{what} name") ?? throw r.Fail($"{what} has no name."), $"{what} name");
            if (name.Length == 0)
            {
                throw r.Fail($"{what} has an empty name; every parameter must name the model input it replaces.");
            }

            what = $"parameter {i} ('{name}')";
            if (!seen.Add(name))
            {
                throw r.Fail($"{what} appears twice; each model input may be given once.");
            }

            var dimsAt = r.Reference(table, 1, $"{what} dims") ?? throw r.Fail($"{what} has no dims field.");
            var (dimsStart, rank) = r.Vector(dimsAt, 8, $"{what} dims");
            if (rank == 0)
            {
                throw r.Fail($"{what} has no dims; ONNX Runtime needs at least one dimension per adapter parameter.");
            }

            var dims = new long[rank];
            for (var d = 0; d < rank; d++)
            {
                dims[d] = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(dimsStart + (8 * d)));
            }

            var type = (AdapterDataType)r.Int32(table, 2, $"{what} data_type");
            if (AdapterDataTypes.ElementSize(type) == 0)
            {
                throw r.Fail($"{what} has data_type {(int)type}, which ONNX Runtime does not accept in an adapter " +
                    "(it takes float, float16, bfloat16, double, the float8 types and 8- to 64-bit integers; not string, bool or complex).");
            }

            var dataAt = r.Reference(table, 3, $"{what} raw_data") ?? throw r.Fail($"{what} has no raw_data field.");
            var (dataStart, dataLength) = r.Vector(dataAt, 1, $"{what} raw_data");
            var parameter = new AdapterParameter(name, dims, type, bytes.AsMemory(dataStart, dataLength));
            var expected = parameter.ExpectedBytes();
            if (expected < 0)
            {
                throw r.Fail($"{what} has dims {parameter.Shape}, which are negative or too large for any tensor.");
            }

            if (expected != dataLength)
            {
                throw r.Fail($"{what} has dims {parameter.Shape} of {type}, which need {expected} bytes, but raw_data holds {dataLength}.");
            }

            if (dataStart % 8 != 0)
            {
                throw r.Fail($"{what} raw_data starts at offset {dataStart}, which is not 8-byte aligned as the schema requires (force_align: 8).");
            }

            parameters[i] = parameter;
        }

        return new AdapterContents(formatVersion, adapterVersion, modelVersion, parameters);
    }

    private static void CheckParameters(IReadOnlyList<AdapterParameter> parameters)
    {
        if (parameters.Count == 0)
        {
            throw new ArgumentException("An adapter needs at least one parameter.", nameof(parameters));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in parameters)
        {
            if (string.IsNullOrEmpty(p.Name) || !names.Add(p.Name))
            {
                throw new ArgumentException($"Adapter parameter names must be non-empty and unique; '{p.Name}' is not.", nameof(parameters));
            }

            var expected = p.ExpectedBytes();
            if (expected < 0)
            {
                throw new ArgumentException(
                    $"Adapter parameter '{p.Name}' is {p.DataType} {p.Shape}; ONNX Runtime needs a supported type and at least one non-negative dimension.", nameof(parameters));
            }

            if (expected != p.Data.Length)
            {
                throw new ArgumentException(
                    $"Adapter parameter '{p.Name}' ({p.DataType}, dims {p.Shape}) has {p.Data.Length} bytes of data; its type and dims need {expected}.", nameof(parameters));
            }
        }
    }

    private sealed record ParameterLayout(int Table, int Name, int Dims, int Data);

    private sealed record Layout(ParameterLayout[] Parameters, int Length);

    // Offsets in a FlatBuffer are unsigned and point forward, so the buffer is laid out top-down: header, the two
    // vtables, the Adapter table, the parameters vector, then each Parameter table followed by its name, dims and data.
    private static Layout Plan(IReadOnlyList<AdapterParameter> parameters, byte[][] names)
    {
        long pos = ParameterVector + 4 + (4L * parameters.Count);
        var result = new ParameterLayout[parameters.Count];
        for (var i = 0; i < parameters.Count; i++)
        {
            var table = Align(pos, 4);
            var name = Align(table + TableSize, 4);
            var dims = AlignElements(name + 4 + names[i].Length + 1, 8);
            var data = AlignElements(dims + 4 + (8L * parameters[i].Dims.Count), 8);
            pos = data + 4 + parameters[i].Data.Length;
            result[i] = new ParameterLayout((int)table, (int)name, (int)dims, (int)data);
        }

        // Every position is below the end, so checking the end covers the casts above.
        var length = Align(pos, 8);
        if (length > int.MaxValue)
        {
            throw new ArgumentException($"The adapter would take {length} bytes, more than the 2 GB a FlatBuffer can address.", nameof(parameters));
        }

        return new Layout(result, (int)length);
    }

    private static void WriteBuffer(Writer w, IReadOnlyList<AdapterParameter> parameters, byte[][] names, Layout layout, int adapterVersion, int modelVersion)
    {
        w.UOffset(AdapterTable);
        w.Bytes(Encoding.ASCII.GetBytes(Identifier));
        for (var table = 0; table < 2; table++)
        {
            w.UInt16(VTableSize);
            w.UInt16(TableSize);
            for (var field = 0; field < FieldCount; field++)
            {
                w.UInt16(4 + (4 * field));
            }
        }

        w.Int32(AdapterTable - AdapterVTable);
        w.Int32(FormatVersion);
        w.Int32(adapterVersion);
        w.Int32(modelVersion);
        w.UOffset(ParameterVector);

        w.Int32(parameters.Count);
        foreach (var p in layout.Parameters)
        {
            w.UOffset(p.Table);
        }

        for (var i = 0; i < parameters.Count; i++)
        {
            var parameter = parameters[i];
            var at = layout.Parameters[i];
            w.PadTo(at.Table);
            w.Int32(at.Table - ParameterVTable);
            w.UOffset(at.Name);
            w.UOffset(at.Dims);
            w.Int32((int)parameter.DataType);
            w.UOffset(at.Data);

            w.PadTo(at.Name);
            w.Int32(names[i].Length);
            w.Bytes(names[i]);
            w.Bytes([0]);

            w.PadTo(at.Dims);
            w.Int32(parameter.Dims.Count);
            foreach (var dim in parameter.Dims)
            {
                w.Int64(dim);
            }

            w.PadTo(at.Data);
            w.Int32(parameter.Data.Length);
            w.Bytes(parameter.Data.Span);
        }

        w.PadTo(layout.Length);
    }

    private static long Align(long pos, int alignment) => (pos + alignment - 1) / alignment * alignment;

    // A vector's elements follow its 4-byte length, so the length goes 4 bytes before an aligned position.
    private static long AlignElements(long pos, int alignment) => Align(pos + 4, alignment) - 4;

    /// <summary>Sequential little-endian writer that knows its position, for padding and uoffsets relative to a field.</summary>
    private sealed class Writer(Stream stream)
    {
        private readonly byte[] _scratch = new byte[8];

        public long Position { get; private set; }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            stream.Write(bytes);
            Position += bytes.Length;
        }

        public void UInt16(int value)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_scratch, checked((ushort)value));
            Bytes(_scratch.AsSpan(0, 2));
        }

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_scratch, value);
            Bytes(_scratch.AsSpan(0, 4));
        }

        public void Int64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_scratch, value);
            Bytes(_scratch.AsSpan(0, 8));
        }

        /// <summary>A uoffset_t field: the target's distance from the field itself.</summary>
        public void UOffset(int target) => Int32(checked(target - (int)Position));

        public void PadTo(long target)
        {
            if (target < Position)
            {
                throw new InvalidOperationException($"Adapter layout error: at {Position}, past {target}.");
            }

            Span<byte> zeros = stackalloc byte[8];
            zeros.Clear();
            while (Position < target)
            {
                Bytes(zeros[..(int)Math.Min(8, target - Position)]);
            }
        }
    }

    /// <summary>Bounds- and alignment-checked reads of FlatBuffers tables, vectors and strings.</summary>
    private sealed class Reader(byte[] bytes, string file)
    {
        private const string Damaged = "the file is truncated or damaged; copy it again or re-export the adapter.";

        public readonly record struct TableRef(int Position, int VTable, int VTableSize, int Size);

        public AdapterFileException Fail(string problem) => new(file, problem);

        /// <summary>Follows the uoffset_t at <paramref name="at"/> and returns the position it points to.</summary>
        public int Offset(int at, string what)
        {
            var value = U32(at, what);
            var target = (long)at + value;
            if (value == 0 || target >= bytes.Length)
            {
                throw Fail($"{what} points to offset {target}, outside the file's {bytes.Length} bytes; {Damaged}");
            }

            return (int)target;
        }

        public TableRef Table(int position, string what)
        {
            Require(position, 4, 4, what);
            var vtable = (long)position - BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(position));
            if (vtable < 0 || vtable + 4 > bytes.Length || vtable % 2 != 0)
            {
                throw Fail($"{what} at offset {position} has its vtable at {vtable}, outside the file; {Damaged}");
            }

            int vtableSize = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)vtable));
            int size = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)vtable + 2));
            if (vtableSize < 4 || vtableSize % 2 != 0 || vtable + vtableSize > bytes.Length || size < 4 || (long)position + size > bytes.Length)
            {
                throw Fail($"{what} at offset {position} has a malformed vtable (size {vtableSize}, table size {size}); {Damaged}");
            }

            return new TableRef(position, (int)vtable, vtableSize, size);
        }

        public int Int32(TableRef table, int field, string what)
        {
            var at = Field(table, field, 4, what);
            return at < 0 ? 0 : BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
        }

        /// <summary>The position a table's offset field points to, or null when the field is absent.</summary>
        public int? Reference(TableRef table, int field, string what)
        {
            var at = Field(table, field, 4, what);
            return at < 0 ? null : Offset(at, what);
        }

        /// <summary>A vector at <paramref name="position"/>: where its elements start and how many there are.</summary>
        public (int Start, int Count) Vector(int position, int elementSize, string what)
        {
            var count = U32(position, what);
            var start = position + 4L;
            if (count > (bytes.Length - start) / elementSize)
            {
                throw Fail($"{what} claims {count} elements of {elementSize} bytes at offset {position}, past the end of the file ({bytes.Length} bytes); {Damaged}");
            }

            if (start % elementSize != 0 && elementSize <= 8)
            {
                throw Fail($"{what} elements start at offset {start}, not aligned to {elementSize} bytes; {Damaged}");
            }

            return ((int)start, (int)count);
        }

        public string String(int position, string what)
        {
            var (start, length) = Vector(position, 1, what);
            if (start + length >= bytes.Length || bytes[start + length] != 0)
            {
                throw Fail($"{what} is not zero-terminated; {Damaged}");
            }

            try
            {
                return StrictUtf8.GetString(bytes, start, length);
            }
            catch (DecoderFallbackException)
            {
                throw Fail($"{what} is not valid UTF-8; {Damaged}");
            }
        }

        /// <summary>The position of a scalar or offset field, or -1 when the vtable leaves it out (the default applies).</summary>
        private int Field(TableRef table, int field, int size, string what)
        {
            var slot = 4 + (2 * field);
            if (slot + 2 > table.VTableSize)
            {
                return -1;
            }

            int offset = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(table.VTable + slot));
            if (offset == 0)
            {
                return -1;
            }

            if (offset + size > table.Size)
            {
                throw Fail($"{what} lies outside its table (offset {offset}, table size {table.Size}); {Damaged}");
            }

            var at = table.Position + offset;
            Require(at, size, size, what);
            return at;
        }

        private uint U32(int at, string what)
        {
            Require(at, 4, 4, what);
            return BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
        }

        private void Require(long at, int size, int alignment, string what)
        {
            if (at < 0 || at + size > bytes.Length)
            {
                throw Fail($"{what} at offset {at} lies past the end of the file ({bytes.Length} bytes); {Damaged}");
            }

            if (at % alignment != 0)
            {
                throw Fail($"{what} at offset {at} is not aligned to {alignment} bytes; {Damaged}");
            }
        }
    }
}
