using Google.Protobuf;

namespace EdgeLlm.Runtime.Onnx;

/// <summary>
/// One field of a protobuf message as it was on the wire: a varint or fixed value in <see cref="Scalar"/>, or the
/// bytes of a length-delimited field (a string, bytes, a nested message or a packed array) in <see cref="Bytes"/>.
/// </summary>
internal readonly record struct ProtoField(int Number, WireFormat.WireType WireType, ulong Scalar, ByteString Bytes)
{
    public static ProtoField Message(int number, ProtoMessage message) =>
        new(number, WireFormat.WireType.LengthDelimited, 0, UnsafeByteOperations.UnsafeWrap(message.ToBytes()));

    public static ProtoField String(int number, string value) =>
        new(number, WireFormat.WireType.LengthDelimited, 0, ByteString.CopyFromUtf8(value));

    public static ProtoField Varint(int number, long value) => new(number, WireFormat.WireType.Varint, (ulong)value, ByteString.Empty);

    public string AsString() => Bytes.ToStringUtf8();

    public ProtoMessage AsMessage() => ProtoMessage.Parse(Bytes.Memory);
}

/// <summary>
/// A protobuf message kept as its list of fields, in wire order, without a schema. Reading and writing it back gives
/// the same bytes (fields are never reordered or re-encoded unless edited), so a graph can be changed surgically
/// while every field this project does not know about (doc strings, metadata, functions, sub-graphs) stays intact.
/// </summary>
internal sealed class ProtoMessage
{
    public ProtoMessage(List<ProtoField> fields) => Fields = fields;

    public List<ProtoField> Fields { get; }

    /// <exception cref="InvalidProtocolBufferException">The bytes are not a protobuf message.</exception>
    /// <exception cref="InvalidDataException">A field uses the deprecated group encoding.</exception>
    public static ProtoMessage Parse(ReadOnlyMemory<byte> data)
    {
        var fields = new List<ProtoField>();
        using var input = new CodedInputStream(data.ToArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var number = WireFormat.GetTagFieldNumber(tag);
            var type = WireFormat.GetTagWireType(tag);
            fields.Add(type switch
            {
                WireFormat.WireType.Varint => new ProtoField(number, type, input.ReadUInt64(), ByteString.Empty),
                WireFormat.WireType.Fixed64 => new ProtoField(number, type, input.ReadFixed64(), ByteString.Empty),
                WireFormat.WireType.Fixed32 => new ProtoField(number, type, input.ReadFixed32(), ByteString.Empty),
                WireFormat.WireType.LengthDelimited => new ProtoField(number, type, 0, input.ReadBytes()),
                _ => throw new InvalidDataException($"field {number} has wire type {type}, which ONNX files never use"),
            });
        }

        return new ProtoMessage(fields);
    }

    public byte[] ToBytes()
    {
        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer, leaveOpen: true))
        {
            foreach (var field in Fields)
            {
                output.WriteTag(field.Number, field.WireType);
                switch (field.WireType)
                {
                    case WireFormat.WireType.Varint:
                        output.WriteUInt64(field.Scalar);
                        break;
                    case WireFormat.WireType.Fixed64:
                        output.WriteFixed64(field.Scalar);
                        break;
                    case WireFormat.WireType.Fixed32:
                        output.WriteFixed32((uint)field.Scalar);
                        break;
                    default:
                        output.WriteBytes(field.Bytes);
                        break;
                }
            }
        }

        return buffer.ToArray();
    }

    /// <summary>Indexes (into <see cref="Fields"/>) of every field numbered <paramref name="number"/>.</summary>
    public IEnumerable<int> IndexesOf(int number)
    {
        for (var i = 0; i < Fields.Count; i++)
        {
            if (Fields[i].Number == number)
            {
                yield return i;
            }
        }
    }

    public IEnumerable<ProtoField> All(int number)
    {
        foreach (var i in IndexesOf(number))
        {
            yield return Fields[i];
        }
    }

    /// <summary>The last occurrence's text (protobuf's rule for a repeated singular field), or "" when absent.</summary>
    public string String(int number)
    {
        var value = "";
        foreach (var field in All(number))
        {
            value = field.AsString();
        }

        return value;
    }

    /// <summary>The last occurrence's varint, or <paramref name="absent"/>.</summary>
    public long Int64(int number, long absent = 0)
    {
        var value = absent;
        foreach (var field in All(number))
        {
            value = (long)field.Scalar;
        }

        return value;
    }

    public IEnumerable<string> Strings(int number)
    {
        foreach (var field in All(number))
        {
            yield return field.AsString();
        }
    }
}
