using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests.Synthesis;

namespace EdgeLlm.Runtime.Tests.Adapters;

public sealed class AdapterSynthesisTests(LoraModelFixture models) : IClassFixture<LoraModelFixture>
{
    [Fact]
    public void LoraModel_HasTheBuildersLoraInputs_WithASymbolicRank()
    {
        using var harness = new DecoderHarness(models.Folder("lora"));
        var inputs = harness.Session.OverridableInitializerMetadata;
        var expected = Enumerable.Range(0, 2).SelectMany(layer => new[]
        {
            $"model.layers.{layer}.attn.qkv_proj.lora_A.MatMul.weight",
            $"model.layers.{layer}.attn.qkv_proj.lora_B.MatMul.weight",
            $"model.layers.{layer}.attn.o_proj.lora_A.MatMul.weight",
            $"model.layers.{layer}.attn.o_proj.lora_B.MatMul.weight",
        });
        Assert.Equal(expected.Order(), inputs.Keys.Order());
        var qkvA = inputs["model.layers.0.attn.qkv_proj.lora_A.MatMul.weight"];
        Assert.Equal([128, -1], qkvA.Dimensions);
        Assert.Equal(LoraBranches.RankDim, qkvA.SymbolicDimensions[1]);
        Assert.Equal([-1, 256], inputs["model.layers.0.attn.qkv_proj.lora_B.MatMul.weight"].Dimensions);

        // The session's ordinary inputs are unchanged, so a runtime that knows nothing of adapters still runs the model.
        using var plain = new DecoderHarness(models.Folder("base"));
        Assert.Equal(plain.Session.InputMetadata.Keys, harness.Session.InputMetadata.Keys);
    }

    [Theory]
    [InlineData("fp32", "/model/layers.1/attn/qkv_proj/MatMul/output_0")]
    [InlineData("int4", "/model/layers.1/attn/qkv_proj/MatMul_Q4/output_0")]
    public void LoraBranches_AreWiredAsTheBuilderWiresThem(string quant, string qkvBase)
    {
        var nodes = OnnxNodeReader.Read(Path.Combine(models.Folder("lora", quant), ModelSynthesizer.ModelFile)).ToDictionary(n => n.Name);
        const string norm = "/model/layers.1/input_layernorm/output_0";
        const string attention = "/model/layers.1/attn/GroupQueryAttention/output_0";

        AssertNode("/model/layers.1/attn/qkv_proj/lora_A/MatMul", "MatMul", norm, "model.layers.1.attn.qkv_proj.lora_A.MatMul.weight");
        AssertNode("/model/layers.1/attn/qkv_proj/lora_B/MatMul", "MatMul", "/model/layers.1/attn/qkv_proj/lora_A/MatMul/output_0", "model.layers.1.attn.qkv_proj.lora_B.MatMul.weight");
        AssertNode("/model/layers.1/attn/qkv_proj/lora/Add", "Add", qkvBase, "/model/layers.1/attn/qkv_proj/lora_B/MatMul/output_0");
        Assert.Equal("/model/layers.1/attn/qkv_proj/lora/Add/output_0", nodes["/model/layers.1/attn/qkv_proj/Add"].Inputs[0]);

        AssertNode("/model/layers.1/attn/o_proj/lora_A/MatMul", "MatMul", attention, "model.layers.1.attn.o_proj.lora_A.MatMul.weight");
        AssertNode("/model/layers.1/attn/o_proj/lora_B/MatMul", "MatMul", "/model/layers.1/attn/o_proj/lora_A/MatMul/output_0", "model.layers.1.attn.o_proj.lora_B.MatMul.weight");
        Assert.Equal("/model/layers.1/attn/o_proj/lora/Add/output_0", nodes["/model/layers.1/post_attention_layernorm/SkipLayerNorm"].Inputs[0]);

        void AssertNode(string name, string opType, params string[] inputs)
        {
            Assert.Equal(opType, nodes[name].OpType);
            Assert.Equal(inputs, nodes[name].Inputs);
            Assert.Equal([name + "/output_0"], nodes[name].Outputs);
        }
    }

    [Fact]
    public void SynthesizedAdapter_IsReproducible_AndSeedsDiffer()
    {
        string Write(string name, int seed)
        {
            var path = Path.Combine(models.Dir, name + AdapterFile.Extension);
            AdapterSynthesizer.Synthesize(models.Folder("lora"), path, seed);
            return path;
        }

        var first = File.ReadAllBytes(Write("s1", 11));
        var again = File.ReadAllBytes(Write("s1-again", 11));
        var other = File.ReadAllBytes(Write("s2", 12));
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);

        var read = AdapterFile.Read(Path.Combine(models.Dir, "s1" + AdapterFile.Extension));
        Assert.Equal(8, read.Parameters.Count);
        Assert.All(read.Parameters, p => Assert.Contains(LoraModelFixture.Rank, p.Dims));
    }

    [Fact]
    public void SynthesizeAdapter_ForAModelWithoutLora_SaysHowToGetOne()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            AdapterSynthesizer.Synthesize(models.Folder("base"), Path.Combine(models.Dir, "x.onnx_adapter"), 1));
        Assert.Contains("LoRA rank above 0", ex.Message);
    }

    [Fact]
    public void SynthesizeAdapter_ForAFolderNotSynthesized_IsRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            AdapterSynthesizer.Synthesize(models.Dir, Path.Combine(models.Dir, "x.onnx_adapter"), 1));
        Assert.Contains(ModelSynthesizer.SynthInfoFile, ex.Message);
    }

    [Fact]
    public void BadLoraOptions_AreRefusedBeforeAnythingIsWritten()
    {
        var folder = Path.Combine(models.Dir, "refused");
        Assert.Throws<ArgumentException>(() => ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "fp32", folder, 1, LoraRank: -1)));
        Assert.Throws<ArgumentException>(() => ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "fp32", folder, 1, LoraDefaults: models.AdapterA)));

        var otherShape = Path.Combine(models.Dir, "other-shape.onnx_adapter");
        AdapterFile.Write(otherShape, [AdapterParameter.Floats("model.layers.5.attn.qkv_proj.lora_A.MatMul.weight", [128, 1], new float[128])]);
        var ex = Assert.Throws<AdapterFileException>(() =>
            ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "fp32", folder, 1, LoraRank: 4, LoraDefaults: otherShape)));
        Assert.Contains("model.layers.5", ex.Message);
        Assert.False(Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any());
    }
}
