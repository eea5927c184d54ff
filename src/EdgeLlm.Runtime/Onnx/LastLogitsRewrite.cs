using System.Runtime.InteropServices;
using Google.Protobuf;

namespace EdgeLlm.Runtime.Onnx;

/// <summary>
/// Makes a decoder that computes logits for every position compute them for the last position only. The model
/// builder's graphs end in final norm → lm_head (MatMul or MatMulNBits) → optional per-element ops (bias, cast,
/// scaling) → <c>logits</c> [batch, sequence, vocab]. A Gather on axis 1 with index [-1] is inserted between the norm
/// and the lm_head, so the lm_head multiplies one row instead of the whole prompt and <c>logits</c> becomes
/// [batch, 1, vocab]. Anything else about the model is left byte for byte as it was.
/// </summary>
internal static class LastLogitsRewrite
{
    /// <summary>Changes whenever the rewrite's output changes, so that cached graphs of an older rewrite are not reused.</summary>
    public const int Version = 1;

    public const string GatherNodeName = "/model/edgellm/last_position/Gather";
    private const string GatherOutput = GatherNodeName + "/output_0";
    private const string IndexName = "/model/edgellm/last_position/index";

    private static readonly HashSet<string> Norms = new(StringComparer.Ordinal)
    {
        "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization", "LayerNormalization", "SkipLayerNormalization", "RMSNormalization",
    };

    private static readonly HashSet<string> LmHeads = new(StringComparer.Ordinal) { "MatMul", "MatMulNBits" };

    // Per-position ops that may sit between the lm_head and the logits output (bias, dtype cast, scaling, soft-capping).
    private static readonly HashSet<string> PerPosition = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div", "Cast", "Tanh" };

    /// <summary>
    /// Rewrites <paramref name="model"/> in place when its <paramref name="logits"/> output has the builder's pattern;
    /// otherwise returns false with the reason, and the model is unchanged.
    /// </summary>
    public static bool TryRewrite(OnnxModelFile model, string logits, out string reason)
    {
        if (!TryFindLmHead(model, logits, out var lmHead, out var chain, out reason))
        {
            return false;
        }

        if (model.DefaultOpset < 11)
        {
            reason = $"the model imports ai.onnx opset {model.DefaultOpset}; Gather with a negative index needs 11 or later";
            return false;
        }

        var graph = model.Graph;
        var lmHeadNode = graph.Fields[lmHead.FieldIndex].AsMessage();
        var firstInput = lmHeadNode.IndexesOf(1).First();
        lmHeadNode.Fields[firstInput] = ProtoField.String(1, GatherOutput);
        graph.Fields[lmHead.FieldIndex] = ProtoField.Message(1, lmHeadNode);

        var gather = new ProtoMessage(
        [
            ProtoField.String(1, lmHead.Inputs[0]),
            ProtoField.String(1, IndexName),
            ProtoField.String(2, GatherOutput),
            ProtoField.String(3, GatherNodeName),
            ProtoField.String(4, "Gather"),
            ProtoField.Message(5, new ProtoMessage([ProtoField.String(1, "axis"), ProtoField.Varint(3, 1), ProtoField.Varint(20, (long)OnnxAttributeType.Int)])),
        ]);

        // Nodes stay in topological order: the Gather goes right before the lm_head that reads it.
        graph.Fields.Insert(lmHead.FieldIndex, ProtoField.Message(1, gather));
        long[] index = [-1];
        graph.Fields.Add(ProtoField.Message(5, new ProtoMessage(
        [
            ProtoField.Varint(1, 1),
            ProtoField.Varint(2, (long)OnnxDataType.Int64),
            ProtoField.String(8, IndexName),
            new ProtoField(9, WireFormat.WireType.LengthDelimited, 0, ByteString.CopyFrom(MemoryMarshal.AsBytes(index.AsSpan()))),
        ])));

        FixShapes(graph, logits, chain);
        model.Reindex();
        reason = $"inserted {GatherNodeName} before {lmHead.OpType} '{lmHead.Name}'";
        return true;
    }

    private static bool TryFindLmHead(OnnxModelFile model, string logits, out OnnxNodeInfo lmHead, out HashSet<string> chain, out string reason)
    {
        lmHead = null!;
        chain = new HashSet<string>(StringComparer.Ordinal);
        if (!model.OutputNames.Contains(logits))
        {
            reason = $"the graph has no output '{logits}'";
            return false;
        }

        var producers = new Dictionary<string, OnnxNodeInfo>(StringComparer.Ordinal);
        foreach (var node in model.Nodes)
        {
            foreach (var output in node.Outputs)
            {
                producers[output] = node;
            }

            if (node.Name == GatherNodeName)
            {
                reason = "the graph was already rewritten";
                return false;
            }
        }

        var current = logits;
        chain.Add(current);
        while (true)
        {
            if (!producers.TryGetValue(current, out var node))
            {
                reason = $"'{current}' is not computed by a node";
                return false;
            }

            if (LmHeads.Contains(node.OpType) && node.Inputs.Count >= 2 && !model.Initializers.ContainsKey(node.Inputs[0]))
            {
                lmHead = node;
                break;
            }

            if (!PerPosition.Contains(node.OpType) || !TryActivationInput(model, node, out current))
            {
                reason = $"'{logits}' comes from {node.OpType} '{node.Name}', not from an lm_head MatMul after per-position ops";
                return false;
            }

            chain.Add(current);
        }

        if (!producers.TryGetValue(lmHead.Inputs[0], out var norm) || !Norms.Contains(norm.OpType) || norm.Outputs[0] != lmHead.Inputs[0])
        {
            var what = norm is null ? "a graph input" : $"{norm.OpType} '{norm.Name}'";
            reason = $"the lm_head '{lmHead.Name}' reads {what}, not a final norm (is the graph already computing the last position only?)";
            return false;
        }

        reason = "";
        return true;
    }

    /// <summary>The one input of a per-position op that is not a constant of rank 0 or 1 (which broadcasts over any sequence length).</summary>
    private static bool TryActivationInput(OnnxModelFile model, OnnxNodeInfo node, out string input)
    {
        input = "";
        foreach (var name in node.Inputs)
        {
            if (model.Initializers.TryGetValue(name, out var constant))
            {
                if (constant.Dims.Count > 1)
                {
                    return false;
                }
            }
            else if (input.Length == 0)
            {
                input = name;
            }
            else
            {
                return false;
            }
        }

        return input.Length > 0;
    }

    /// <summary>
    /// The logits output's sequence dimension becomes 1, and value_info entries of the tensors between the lm_head
    /// and the output (whose sequence dimension changed too) are dropped, so shape inference sees no conflict.
    /// </summary>
    private static void FixShapes(ProtoMessage graph, string logits, HashSet<string> chain)
    {
        for (var i = graph.Fields.Count - 1; i >= 0; i--)
        {
            var field = graph.Fields[i];
            if (field.Number is not (12 or 13))
            {
                continue;
            }

            var info = field.AsMessage();
            var name = info.String(1);
            if (field.Number == 13 && chain.Contains(name))
            {
                graph.Fields.RemoveAt(i);
            }
            else if (field.Number == 12 && name == logits)
            {
                graph.Fields[i] = ProtoField.Message(12, WithSequenceDimOne(info));
            }
        }
    }

    // ValueInfoProto.type = 2 → TypeProto.tensor_type = 1 → TypeProto.Tensor.shape = 2 → TensorShapeProto.dim = 1 → dim_value = 1.
    private static ProtoMessage WithSequenceDimOne(ProtoMessage info)
    {
        return Edit(info, 2, type => Edit(type, 1, tensor => Edit(tensor, 2, shape =>
        {
            var dims = shape.IndexesOf(1).ToArray();
            if (dims.Length == 3)
            {
                shape.Fields[dims[1]] = ProtoField.Message(1, new ProtoMessage([ProtoField.Varint(1, 1)]));
            }
        })));
    }

    private static ProtoMessage Edit(ProtoMessage message, int field, Action<ProtoMessage> edit)
    {
        foreach (var i in message.IndexesOf(field).ToArray())
        {
            var inner = message.Fields[i].AsMessage();
            edit(inner);
            message.Fields[i] = ProtoField.Message(field, inner);
        }

        return message;
    }
}
