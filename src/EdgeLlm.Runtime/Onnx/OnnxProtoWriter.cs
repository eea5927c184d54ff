using System.Globalization;
using Google.Protobuf;

namespace EdgeLlm.Runtime.Onnx;

/// <summary>
/// Serializes <see cref="OnnxModel"/> as an ONNX <c>ModelProto</c> with the field numbers of onnx.proto.
/// Nested messages are written to a buffer first so their length prefix is known; the graph holds only
/// metadata and small inline tensors, so the buffers stay small (large weights go to external data).
/// Repeated scalars are written unpacked, as proto2 (onnx.proto's syntax) does by default.
/// </summary>
internal static class OnnxProtoWriter
{
    /// <summary>Writes the model to <paramref name="path"/>, replacing any existing file.</summary>
    public static void WriteFile(OnnxModel model, string path)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(model, file);
    }

    public static void Write(OnnxModel model, Stream output)
    {
        using var cos = new CodedOutputStream(output, leaveOpen: true);
        WriteModel(cos, model);
        cos.Flush();
    }

    public static byte[] ToBytes(OnnxModel model)
    {
        using var ms = new MemoryStream();
        Write(model, ms);
        return ms.ToArray();
    }

    private static void WriteModel(CodedOutputStream o, OnnxModel m)
    {
        Int64(o, 1, m.IrVersion);
        Str(o, 2, m.ProducerName);
        Str(o, 3, m.ProducerVersion);
        Message(o, 7, m.Graph, WriteGraph);
        foreach (var opset in m.Opsets)
        {
            Message(o, 8, opset, static (w, s) =>
            {
                Str(w, 1, s.Domain);
                Int64(w, 2, s.Version);
            });
        }

        foreach (var kv in m.Metadata)
        {
            Message(o, 14, kv, WriteEntry);
        }
    }

    private static void WriteGraph(CodedOutputStream o, OnnxGraph g)
    {
        foreach (var node in g.Nodes)
        {
            Message(o, 1, node, WriteNode);
        }

        Str(o, 2, g.Name);
        foreach (var tensor in g.Initializers)
        {
            Message(o, 5, tensor, WriteTensor);
        }

        foreach (var input in g.Inputs)
        {
            Message(o, 11, input, WriteValueInfo);
        }

        foreach (var output in g.Outputs)
        {
            Message(o, 12, output, WriteValueInfo);
        }

        foreach (var info in g.ValueInfo)
        {
            Message(o, 13, info, WriteValueInfo);
        }
    }

    private static void WriteNode(CodedOutputStream o, OnnxNode n)
    {
        // Empty names are meaningful here (an omitted optional input), so they are always written.
        foreach (var input in n.Inputs)
        {
            o.WriteTag(1, WireFormat.WireType.LengthDelimited);
            o.WriteString(input);
        }

        foreach (var output in n.Outputs)
        {
            o.WriteTag(2, WireFormat.WireType.LengthDelimited);
            o.WriteString(output);
        }

        Str(o, 3, n.Name);
        Str(o, 4, n.OpType);
        foreach (var attribute in n.Attributes)
        {
            Message(o, 5, attribute, WriteAttribute);
        }

        Str(o, 7, n.Domain);
    }

    private static void WriteAttribute(CodedOutputStream o, OnnxAttribute a)
    {
        Str(o, 1, a.Name);
        switch (a.Type)
        {
            case OnnxAttributeType.Float:
                o.WriteTag(2, WireFormat.WireType.Fixed32);
                o.WriteFloat(a.FloatValue);
                break;
            case OnnxAttributeType.Int:
                o.WriteTag(3, WireFormat.WireType.Varint);
                o.WriteInt64(a.IntValue);
                break;
            case OnnxAttributeType.String:
                o.WriteTag(4, WireFormat.WireType.LengthDelimited);
                o.WriteBytes(ByteString.CopyFromUtf8(a.StringValue));
                break;
            case OnnxAttributeType.Tensor:
                Message(o, 5, a.TensorValue!, WriteTensor);
                break;
            case OnnxAttributeType.Floats:
                foreach (var f in a.FloatValues)
                {
                    o.WriteTag(7, WireFormat.WireType.Fixed32);
                    o.WriteFloat(f);
                }

                break;
            case OnnxAttributeType.Ints:
                foreach (var i in a.IntValues)
                {
                    o.WriteTag(8, WireFormat.WireType.Varint);
                    o.WriteInt64(i);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(a), a.Type, "unsupported attribute type");
        }

        o.WriteTag(20, WireFormat.WireType.Varint);
        o.WriteEnum((int)a.Type);
    }

    private static void WriteTensor(CodedOutputStream o, OnnxTensor t)
    {
        foreach (var d in t.Dims)
        {
            o.WriteTag(1, WireFormat.WireType.Varint);
            o.WriteInt64(d);
        }

        o.WriteTag(2, WireFormat.WireType.Varint);
        o.WriteInt32((int)t.DataType);
        Str(o, 8, t.Name);
        if (t.External is { } ext)
        {
            Message(o, 13, KeyValuePair.Create("location", ext.Location), WriteEntry);
            Message(o, 13, KeyValuePair.Create("offset", ext.Offset.ToString(CultureInfo.InvariantCulture)), WriteEntry);
            Message(o, 13, KeyValuePair.Create("length", ext.Length.ToString(CultureInfo.InvariantCulture)), WriteEntry);
            o.WriteTag(14, WireFormat.WireType.Varint);
            o.WriteEnum(1);
        }
        else
        {
            o.WriteTag(9, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(UnsafeByteOperations.UnsafeWrap(t.RawData));
        }
    }

    private static void WriteValueInfo(CodedOutputStream o, OnnxValueInfo v)
    {
        Str(o, 1, v.Name);
        Message(o, 2, v, static (typeProto, value) =>
        {
            Message(typeProto, 1, value, static (tensorType, tv) =>
            {
                tensorType.WriteTag(1, WireFormat.WireType.Varint);
                tensorType.WriteInt32((int)tv.DataType);
                Message(tensorType, 2, tv.Shape, static (shape, dims) =>
                {
                    foreach (var dim in dims)
                    {
                        Message(shape, 1, dim, static (d, x) =>
                        {
                            if (x.Value is { } value)
                            {
                                d.WriteTag(1, WireFormat.WireType.Varint);
                                d.WriteInt64(value);
                            }
                            else
                            {
                                Str(d, 2, x.Param ?? "");
                            }
                        });
                    }
                });
            });
        });
    }

    private static void WriteEntry(CodedOutputStream o, KeyValuePair<string, string> kv)
    {
        Str(o, 1, kv.Key);
        Str(o, 2, kv.Value);
    }

    private static void Str(CodedOutputStream o, int field, string value)
    {
        if (value.Length == 0)
        {
            return;
        }

        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }

    private static void Int64(CodedOutputStream o, int field, long value)
    {
        o.WriteTag(field, WireFormat.WireType.Varint);
        o.WriteInt64(value);
    }

    private static void Message<T>(CodedOutputStream o, int field, T value, Action<CodedOutputStream, T> write)
    {
        using var buffer = new MemoryStream();
        using var inner = new CodedOutputStream(buffer, leaveOpen: true);
        write(inner, value);
        inner.Flush();
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)));
    }
}
