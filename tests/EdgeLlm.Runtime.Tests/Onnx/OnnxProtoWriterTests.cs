using System.Runtime.InteropServices;
using EdgeLlm.Runtime.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeLlm.Runtime.Tests.Onnx;

public sealed class OnnxProtoWriterTests
{
    private static readonly float[] X = [1, -2, 3, 0.5f, 4, -1];                       // [2, 3]
    private static readonly float[] W = [1, 0, 2, -1, 0.5f, 1, 0, 3, -2, 1, 1, 0.25f];  // [3, 4]
    private static readonly float[] Bias = [0.5f, -0.5f, 1, -1];                        // [4]
    private static readonly float[] ColumnScale = [2, -3];                              // [2]

    [Fact]
    public void Written_model_with_every_attribute_kind_and_external_data_runs_in_onnx_runtime()
    {
        using var dir = TestPaths.NewTempDir();
        WriteModel(dir.Path);

        using var session = new InferenceSession(Path.Combine(dir.Path, "m.onnx"));
        using var x = OrtValue.CreateTensorValueFromMemory(X, [2, 3]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["x"], [x], ["y", "shape"]);

        Assert.Equal([4L, 2], outputs[0].GetTensorTypeAndShape().Shape);
        var expected = Expected();
        var actual = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"y[{i}] = {actual[i]}, expected {expected[i]}");
        }

        Assert.Equal([4L, 2], outputs[1].GetTensorDataAsSpan<long>().ToArray());
    }

    [Fact]
    public void External_tensors_start_at_aligned_offsets_and_hold_exactly_their_bytes()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir.Path, "w.data");
        OnnxTensor a, b;
        using (var writer = new ExternalDataWriter(path, "w.data"))
        {
            writer.BeginTensor();
            writer.Write(new byte[] { 1, 2, 3 });
            a = writer.EndTensor("a", OnnxDataType.UInt8, [3]);
            writer.BeginTensor();
            writer.Write(new byte[] { 9, 8 });
            writer.Write(new byte[] { 7 });
            b = writer.EndTensor("b", OnnxDataType.UInt8, [3]);
        }

        Assert.Equal(new OnnxExternalData("w.data", 0, 3), a.External);
        Assert.Equal(new OnnxExternalData("w.data", ExternalDataWriter.Alignment, 3), b.External);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(ExternalDataWriter.Alignment + 3, bytes.Length);
        Assert.Equal([9, 8, 7], bytes[ExternalDataWriter.Alignment..]);
    }

    [Fact]
    public void EndTensor_without_BeginTensor_is_an_error()
    {
        using var dir = TestPaths.NewTempDir();
        using var writer = new ExternalDataWriter(Path.Combine(dir.Path, "d"), "d");
        Assert.Throws<InvalidOperationException>(() => writer.EndTensor("t", OnnxDataType.Float, [1]));
    }

    [Fact]
    public void Serialization_is_deterministic()
    {
        using var a = TestPaths.NewTempDir();
        using var b = TestPaths.NewTempDir();
        WriteModel(a.Path);
        WriteModel(b.Path);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a.Path, "m.onnx")), File.ReadAllBytes(Path.Combine(b.Path, "m.onnx")));
    }

    // y = Transpose(LeakyRelu(Gelu_tanh(x·W) + bias, 0.5), perm [1, 0]) * column_scale; shape = Shape(y).
    private static void WriteModel(string folder)
    {
        var g = new OnnxGraphBuilder();
        g.AddInput(new OnnxValueInfo("x", OnnxDataType.Float, ["batch", 3]));
        g.AddOutput(new OnnxValueInfo("y", OnnxDataType.Float, [4, "batch"]));
        g.AddOutput(new OnnxValueInfo("shape", OnnxDataType.Int64, [2]));

        using (var data = new ExternalDataWriter(Path.Combine(folder, "m.onnx.data"), "m.onnx.data"))
        {
            // A first tensor makes the weight's offset non-zero, so the offset field is really read.
            data.BeginTensor();
            data.Write(new byte[100]);
            g.AddInitializer(data.EndTensor("unused", OnnxDataType.UInt8, [100]));

            data.BeginTensor();
            data.Write(MemoryMarshal.AsBytes(W.AsSpan()));
            g.AddInitializer(data.EndTensor("w", OnnxDataType.Float, [3, 4]));
        }

        var biasTensor = new OnnxTensor { Name = "bias_value", DataType = OnnxDataType.Float, Dims = [4], RawData = MemoryMarshal.AsBytes(Bias.AsSpan()).ToArray() };
        var bias = g.Add("Constant", "/bias", [], attributes: OnnxAttribute.Of("value", biasTensor));
        var scale = g.Add("Constant", "/scale", [], attributes: OnnxAttribute.Of("value_floats", (IReadOnlyList<float>)ColumnScale));
        var mm = g.Add("MatMul", "/mm", ["x", "w"]);
        var gelu = g.Add("Gelu", "/gelu", [mm], attributes: OnnxAttribute.Of("approximate", "tanh"));
        var add = g.Add("Add", "/add", [gelu, bias]);
        var leaky = g.Add("LeakyRelu", "/leaky", [add], attributes: OnnxAttribute.Of("alpha", 0.5f));
        var transposed = g.Add("Transpose", "/t", [leaky], attributes: OnnxAttribute.Of("perm", (IReadOnlyList<long>)[1L, 0L]));
        g.AddWithOutputs("Mul", "/mul", [transposed, scale], ["y"]);
        g.AddWithOutputs("Shape", "/shape", ["y"], ["shape"]);

        var model = new OnnxModel
        {
            Opsets = [new OnnxOpset("", 21)],
            Graph = g.Build("test"),
            Metadata = [KeyValuePair.Create("purpose", "writer test")],
        };
        OnnxProtoWriter.WriteFile(model, Path.Combine(folder, "m.onnx"));
    }

    private static float[] Expected()
    {
        var y = new float[8];
        for (var r = 0; r < 2; r++)
        {
            for (var c = 0; c < 4; c++)
            {
                var dot = 0.0;
                for (var k = 0; k < 3; k++)
                {
                    dot += X[(r * 3) + k] * W[(k * 4) + c];
                }

                var gelu = 0.5 * dot * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (dot + (0.044715 * dot * dot * dot))));
                var v = gelu + Bias[c];
                var leaky = v >= 0 ? v : 0.5 * v;
                y[(c * 2) + r] = (float)(leaky * ColumnScale[r]);
            }
        }

        return y;
    }
}
