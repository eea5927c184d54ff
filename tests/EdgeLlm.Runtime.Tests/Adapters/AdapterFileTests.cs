using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using EdgeLlm.Runtime.Adapters;
using Microsoft.ML.OnnxRuntime;

namespace EdgeLlm.Runtime.Tests.Adapters;

public sealed class AdapterFileTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    private static AdapterParameter[] Sample() =>
    [
        AdapterParameter.Floats("model.layers.0.attn.qkv_proj.lora_A.MatMul.weight", [3, 2], [1.5f, -2, 0.25f, 4, 5, -6]),
        AdapterParameter.Floats("model.layers.0.attn.qkv_proj.lora_B.MatMul.weight", [2, 5], Enumerable.Range(0, 10).Select(i => i * 0.1f).ToArray()),
        new("ids", [2], AdapterDataType.Int64, MemoryMarshal.AsBytes<long>([long.MinValue, 42]).ToArray()),
        new("half ünïcode ✓", [1, 3], AdapterDataType.Float16, MemoryMarshal.AsBytes<Half>([(Half)1, (Half)(-0.5), Half.MaxValue]).ToArray()),
        new("bytes", [5], AdapterDataType.Int8, new byte[] { 1, 0, 255, 128, 7 }),
        AdapterParameter.Floats("empty", [4, 0], []),
        new("one double", [1], AdapterDataType.Double, BitConverter.GetBytes(Math.PI)),
    ];

    private string Path(string name) => System.IO.Path.Combine(_dir.Path, name);

    private string WriteSample(string name = "sample.onnx_adapter")
    {
        var path = Path(name);
        AdapterFile.Write(path, Sample());
        return path;
    }

    [Fact]
    public void Write_ThenRead_RoundTripsEveryParameter()
    {
        var path = Path("a.onnx_adapter");
        AdapterFile.Write(path, Sample(), adapterVersion: 7, modelVersion: 3);

        var read = AdapterFile.Read(path);
        Assert.Equal(AdapterFile.FormatVersion, read.FormatVersion);
        Assert.Equal(7, read.AdapterVersion);
        Assert.Equal(3, read.ModelVersion);
        var expected = Sample();
        Assert.Equal(expected.Length, read.Parameters.Count);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Name, read.Parameters[i].Name);
            Assert.Equal(expected[i].Dims, read.Parameters[i].Dims);
            Assert.Equal(expected[i].DataType, read.Parameters[i].DataType);
            Assert.Equal(expected[i].Data.ToArray(), read.Parameters[i].Data.ToArray());
        }

        Assert.Equal([1.5f, -2, 0.25f, 4, 5, -6], read.Parameters[0].ToFloats());
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void Write_LaysOutTheBufferAsTheSchemaRequires()
    {
        var bytes = File.ReadAllBytes(WriteSample());
        Assert.Equal("TORT", Encoding.ASCII.GetString(bytes, 4, 4));
        Assert.Equal(0, bytes.Length % 8);
        var parameters = AdapterFile.Parse(bytes, "sample");
        foreach (var p in parameters.Parameters)
        {
            Assert.True(MemoryMarshal.TryGetArray(p.Data, out var segment));
            Assert.Same(bytes, segment.Array);
            Assert.Equal(0, segment.Offset % 8);
        }
    }

    [Fact]
    public void OnnxRuntime_LoadsAWrittenFile_FromPathAndFromBytes()
    {
        var path = WriteSample();
        using (var fromPath = OrtLoraAdapter.Create(path, null))
        {
            Assert.False(fromPath.IsInvalid);
        }

        using var fromBytes = OrtLoraAdapter.Create(File.ReadAllBytes(path), null);
        Assert.False(fromBytes.IsInvalid);
    }

    [Fact]
    public void Write_RejectsBadParameters()
    {
        Assert.Throws<ArgumentException>(() => AdapterFile.Write(Path("x"), []));
        Assert.Throws<ArgumentException>(() => AdapterFile.Write(Path("x"), [AdapterParameter.Floats("a", [1], [1]), AdapterParameter.Floats("a", [1], [2])]));
        Assert.Throws<ArgumentException>(() => AdapterFile.Write(Path("x"), [AdapterParameter.Floats("", [1], [1])]));
        var mismatch = Assert.Throws<ArgumentException>(() => AdapterFile.Write(Path("x"), [AdapterParameter.Floats("w", [2, 3], [1, 2, 3])]));
        Assert.Contains("'w'", mismatch.Message);
        Assert.Throws<ArgumentException>(() => AdapterFile.Write(Path("x"), [new AdapterParameter("s", [1], (AdapterDataType)8, new byte[1])]));
        Assert.Throws<ArgumentException>(() => AdapterFile.Write(Path("x"), [AdapterParameter.Floats("n", [-1], [])]));
        Assert.Throws<ArgumentException>(() => AdapterFile.Write(Path("x"), [AdapterParameter.Floats("scalar", [], [1])]));
        Assert.False(File.Exists(Path("x")));
    }

    [Fact]
    public void Read_MissingFile_NamesIt()
    {
        var path = Path("missing.onnx_adapter");
        var ex = Assert.Throws<AdapterFileException>(() => AdapterFile.Read(path));
        Assert.Equal(path, ex.File);
        Assert.Contains("cannot be read", ex.Message);
    }

    [Fact]
    public void Read_EveryTruncation_GivesAClearErrorNamingTheFile()
    {
        var bytes = File.ReadAllBytes(WriteSample());
        for (var length = 0; length < bytes.Length; length++)
        {
            var path = Path("cut.onnx_adapter");
            File.WriteAllBytes(path, bytes.AsSpan(0, length).ToArray());
            var ex = Assert.Throws<AdapterFileException>(() => AdapterFile.Read(path));
            Assert.StartsWith(path + ": ", ex.Message);
        }
    }

    [Fact]
    public void Read_NotAnAdapter_SaysSo()
    {
        var path = Path("model.onnx_adapter");
        File.WriteAllText(path, "this is an ONNX model, honest");
        var ex = Assert.Throws<AdapterFileException>(() => AdapterFile.Read(path));
        Assert.Contains("'TORT'", ex.Message);
    }

    [Fact]
    public void Read_UnsupportedFormatVersion_SaysWhichVersionsWork()
    {
        var ex = ReadPatched(b => WriteInt32(b, Field(b, Root(b), 0), 2));
        Assert.Contains("format_version 2", ex.Message);
    }

    [Fact]
    public void Read_UnknownDataType_NamesTheParameter()
    {
        var ex = ReadPatched(b => WriteInt32(b, Field(b, Parameter(b, 1), 2), 99));
        Assert.Contains("parameter 1 ('model.layers.0.attn.qkv_proj.lora_B.MatMul.weight')", ex.Message);
        Assert.Contains("data_type 99", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(14)]
    [InlineData(15)]
    public void Read_DataTypesOnnxRuntimeRefuses_AreRejected(int type)
    {
        var ex = ReadPatched(b => WriteInt32(b, Field(b, Parameter(b, 4), 2), type));
        Assert.Contains($"data_type {type}", ex.Message);
    }

    [Fact]
    public void Read_DimsLargerThanTheData_AreRejected()
    {
        var ex = ReadPatched(b => WriteInt64(b, Vector(b, Parameter(b, 0), 1), 1000));
        Assert.Contains("dims [1000, 2]", ex.Message);
        Assert.Contains("need 8000 bytes, but raw_data holds 24", ex.Message);
    }

    [Fact]
    public void Read_DimsThatOverflow_AreRejected()
    {
        var ex = ReadPatched(b =>
        {
            var dims = Vector(b, Parameter(b, 0), 1);
            WriteInt64(b, dims, long.MaxValue / 2);
            WriteInt64(b, dims + 8, long.MaxValue / 2);
        });
        Assert.Contains("too large", ex.Message);
    }

    [Fact]
    public void Read_EmptyDims_AreRejected()
    {
        var ex = ReadPatched(b => WriteInt32(b, Vector(b, Parameter(b, 0), 1) - 4, 0));
        Assert.Contains("has no dims", ex.Message);
    }

    [Fact]
    public void Read_NegativeDims_AreRejected()
    {
        var ex = ReadPatched(b => WriteInt64(b, Vector(b, Parameter(b, 0), 1), -3));
        Assert.Contains("negative", ex.Message);
    }

    [Fact]
    public void Read_OffsetsOutsideTheFile_AreRejected()
    {
        Assert.Contains("outside the file", ReadPatched(b => WriteInt32(b, 0, b.Length + 100)).Message);
        Assert.Contains("parameter 2", ReadPatched(b =>
        {
            var slot = Vector(b, Root(b), 3) + (4 * 2);
            WriteInt32(b, slot, int.MaxValue - slot);
        }).Message);
    }

    [Fact]
    public void Read_VectorLengthPastTheEnd_IsRejected()
    {
        var ex = ReadPatched(b => WriteInt32(b, Vector(b, Parameter(b, 1), 3) - 4, 1 << 30));
        Assert.Contains("raw_data", ex.Message);
        Assert.Contains("past the end", ex.Message);
    }

    [Fact]
    public void Read_MissingField_NamesIt()
    {
        // Zeroing a vtable entry removes the field: the Parameter vtable is shared, so every parameter loses it.
        var ex = ReadPatched(b => WriteUInt16(b, VTable(b, Parameter(b, 0)) + 4 + (2 * 3), 0));
        Assert.Contains("has no raw_data field", ex.Message);
    }

    [Fact]
    public void Read_DuplicateNames_AreRejected()
    {
        var ex = ReadPatched(b =>
        {
            var slots = Vector(b, Root(b), 3);
            var second = slots + 4;
            WriteInt32(b, second, slots + BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(slots)) - second);
        });
        Assert.Contains("appears twice", ex.Message);
    }

    [Fact]
    public void Read_RandomlyDamagedFiles_FailOnlyWithAdapterFileException()
    {
        var original = File.ReadAllBytes(WriteSample());
        var random = new Random(12345);
        for (var trial = 0; trial < 2000; trial++)
        {
            var bytes = (byte[])original.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--)
            {
                bytes[random.Next(Math.Min(bytes.Length, 400))] = (byte)random.Next(256);
            }

            try
            {
                var contents = AdapterFile.Parse(bytes, "damaged");
                Assert.All(contents.Parameters, p => Assert.Equal(p.ExpectedBytes(), p.Data.Length));
            }
            catch (AdapterFileException ex)
            {
                Assert.StartsWith("damaged: ", ex.Message);
            }
        }
    }

    private AdapterFileException ReadPatched(Action<byte[]> patch)
    {
        var bytes = File.ReadAllBytes(WriteSample());
        patch(bytes);
        var path = Path("patched.onnx_adapter");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<AdapterFileException>(() => AdapterFile.Read(path));
        Assert.StartsWith(path + ": ", ex.Message);
        return ex;
    }

    // Minimal FlatBuffers navigation, so the patches above find the bytes they change whatever the layout.
    private static int Root(byte[] b) => BinaryPrimitives.ReadInt32LittleEndian(b);

    private static int VTable(byte[] b, int table) => table - BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(table));

    private static int Field(byte[] b, int table, int field) =>
        table + BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(VTable(b, table) + 4 + (2 * field)));

    /// <summary>The first element of the vector an offset field points to.</summary>
    private static int Vector(byte[] b, int table, int field)
    {
        var at = Field(b, table, field);
        return at + BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(at)) + 4;
    }

    private static int Parameter(byte[] b, int index)
    {
        var slot = Vector(b, Root(b), 3) + (4 * index);
        return slot + BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(slot));
    }

    private static void WriteUInt16(byte[] b, int at, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), value);

    private static void WriteInt32(byte[] b, int at, int value) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), value);

    private static void WriteInt64(byte[] b, int at, long value) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), value);

    public void Dispose() => _dir.Dispose();
}
