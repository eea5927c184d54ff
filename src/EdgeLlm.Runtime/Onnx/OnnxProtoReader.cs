using System.Globalization;
using Google.Protobuf;

namespace EdgeLlm.Runtime.Onnx;

/// <summary>A node of a read graph: where it sits among the graph's fields, and what the rewrites need to know.</summary>
internal sealed record OnnxNodeInfo(int FieldIndex, string OpType, string Name, string Domain, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// A model file as read by <see cref="OnnxProtoReader"/>: the raw <c>ModelProto</c> (every field kept, external data
/// references untouched) and a view of its main graph's nodes, initializers and outputs.
/// </summary>
internal sealed class OnnxModelFile
{
    internal OnnxModelFile(ProtoMessage model, int graphField, ProtoMessage graph)
    {
        Model = model;
        GraphField = graphField;
        Graph = graph;
        Reindex();
    }

    public ProtoMessage Model { get; }

    /// <summary>The main graph; edit its fields and call <see cref="Reindex"/>, then <see cref="ToBytes"/>.</summary>
    public ProtoMessage Graph { get; }

    private int GraphField { get; }

    public IReadOnlyList<OnnxNodeInfo> Nodes { get; private set; } = [];

    /// <summary>Initializers by name; inline bytes are not copied out (<see cref="OnnxTensor.RawData"/> is empty).</summary>
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; private set; } = new Dictionary<string, OnnxTensor>();

    public IReadOnlyList<string> OutputNames { get; private set; } = [];

    public IReadOnlyList<OnnxOpset> Opsets => [.. Model.All(8).Select(f => f.AsMessage()).Select(m => new OnnxOpset(m.String(1), m.Int64(2)))];

    /// <summary>The version of the default (ai.onnx) operator set, or 0 when the model does not import it.</summary>
    public long DefaultOpset => Opsets.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();

    /// <summary>Refreshes <see cref="Nodes"/>, <see cref="Initializers"/> and <see cref="OutputNames"/> after <see cref="Graph"/> was edited.</summary>
    public void Reindex()
    {
        var nodes = new List<OnnxNodeInfo>();
        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var outputs = new List<string>();
        for (var i = 0; i < Graph.Fields.Count; i++)
        {
            var field = Graph.Fields[i];
            switch (field.Number)
            {
                case 1:
                    var node = field.AsMessage();
                    nodes.Add(new OnnxNodeInfo(i, node.String(4), node.String(3), node.String(7), [.. node.Strings(1)], [.. node.Strings(2)]));
                    break;
                case 5:
                    var tensor = OnnxProtoReader.ReadTensor(field.AsMessage());
                    initializers[tensor.Name] = tensor;
                    break;
                case 12:
                    outputs.Add(field.AsMessage().String(1));
                    break;
            }
        }

        Nodes = nodes;
        Initializers = initializers;
        OutputNames = outputs;
    }

    /// <summary>The model with the (possibly edited) graph, every other field as read.</summary>
    public byte[] ToBytes()
    {
        var fields = new List<ProtoField>(Model.Fields);
        fields[GraphField] = ProtoField.Message(7, Graph);
        return new ProtoMessage(fields).ToBytes();
    }
}

/// <summary>
/// Reads ONNX <c>ModelProto</c> files with the field numbers of onnx.proto: ModelProto.graph = 7, opset_import = 8;
/// GraphProto.node = 1, initializer = 5, output = 12; NodeProto.input = 1, output = 2, name = 3, op_type = 4, domain = 7;
/// TensorProto.dims = 1, data_type = 2, name = 8, external_data = 13, data_location = 14.
/// Only the graph's structure is read; initializer bytes, inline or external, are left where they are.
/// </summary>
internal static class OnnxProtoReader
{
    /// <exception cref="InvalidDataException">The file is not an ONNX model; the message names the file.</exception>
    public static OnnxModelFile ReadFile(string path) => Read(File.ReadAllBytes(path), path);

    /// <exception cref="InvalidDataException">The bytes are not an ONNX model; the message names <paramref name="source"/>.</exception>
    public static OnnxModelFile Read(byte[] bytes, string source)
    {
        ProtoMessage model, graph;
        int graphField;
        try
        {
            model = ProtoMessage.Parse(bytes);
            graphField = model.IndexesOf(7).DefaultIfEmpty(-1).Last();
            graph = graphField < 0 ? new ProtoMessage([]) : model.Fields[graphField].AsMessage();
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidDataException)
        {
            throw new InvalidDataException($"{source} is not an ONNX model: {ex.Message}", ex);
        }

        return graphField < 0
            ? throw new InvalidDataException($"{source} is not an ONNX model: ModelProto.graph (field 7) is missing.")
            : new OnnxModelFile(model, graphField, graph);
    }

    internal static OnnxTensor ReadTensor(ProtoMessage tensor)
    {
        var dims = new List<long>();
        foreach (var field in tensor.All(1))
        {
            if (field.WireType == WireFormat.WireType.LengthDelimited)
            {
                // Packed encoding, which proto3-minded writers use even for onnx.proto's proto2 fields.
                using var packed = new CodedInputStream(field.Bytes.ToByteArray());
                while (!packed.IsAtEnd)
                {
                    dims.Add(packed.ReadInt64());
                }
            }
            else
            {
                dims.Add((long)field.Scalar);
            }
        }

        OnnxExternalData? external = null;
        if (tensor.Int64(14) == 1)
        {
            var entries = tensor.All(13).Select(f => f.AsMessage()).ToDictionary(e => e.String(1), e => e.String(2), StringComparer.Ordinal);
            external = new OnnxExternalData(
                entries.GetValueOrDefault("location", ""),
                long.Parse(entries.GetValueOrDefault("offset", "0"), CultureInfo.InvariantCulture),
                long.Parse(entries.GetValueOrDefault("length", "-1"), CultureInfo.InvariantCulture));
        }

        return new OnnxTensor { Name = tensor.String(8), DataType = (OnnxDataType)tensor.Int64(2), Dims = dims, External = external };
    }
}
