using Google.Protobuf;

namespace EdgeLlm.Runtime.Tests.Adapters;

/// <summary>One <c>NodeProto</c>: just what wiring checks need.</summary>
internal sealed record OnnxNodeInfo(string Name, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// Reads the nodes of a model.onnx's main graph straight from the protobuf wire format (ModelProto.graph = 7,
/// GraphProto.node = 1; NodeProto input = 1, output = 2, name = 3, op_type = 4), independently of the writer.
/// </summary>
internal static class OnnxNodeReader
{
    public static IReadOnlyList<OnnxNodeInfo> Read(string modelPath)
    {
        var model = new CodedInputStream(File.ReadAllBytes(modelPath));
        var nodes = new List<OnnxNodeInfo>();
        for (var tag = model.ReadTag(); tag != 0; tag = model.ReadTag())
        {
            if (WireFormat.GetTagFieldNumber(tag) != 7)
            {
                model.SkipLastField();
                continue;
            }

            var graph = new CodedInputStream(model.ReadBytes().ToByteArray());
            for (var g = graph.ReadTag(); g != 0; g = graph.ReadTag())
            {
                if (WireFormat.GetTagFieldNumber(g) == 1)
                {
                    nodes.Add(ReadNode(graph.ReadBytes()));
                }
                else
                {
                    graph.SkipLastField();
                }
            }
        }

        return nodes;
    }

    private static OnnxNodeInfo ReadNode(ByteString bytes)
    {
        var node = new CodedInputStream(bytes.ToByteArray());
        var inputs = new List<string>();
        var outputs = new List<string>();
        string name = "", opType = "";
        for (var tag = node.ReadTag(); tag != 0; tag = node.ReadTag())
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: inputs.Add(node.ReadString()); break;
                case 2: outputs.Add(node.ReadString()); break;
                case 3: name = node.ReadString(); break;
                case 4: opType = node.ReadString(); break;
                default: node.SkipLastField(); break;
            }
        }

        return new OnnxNodeInfo(name, opType, inputs, outputs);
    }
}
