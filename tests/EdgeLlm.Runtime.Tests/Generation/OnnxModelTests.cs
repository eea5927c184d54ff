using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Providers;
using EdgeLlm.Runtime.Tests.Providers;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Runtime.Tests.Generation;

[Collection(TinyModels.Name)]
public sealed class OnnxModelTests(TinyModelFixture models)
{
    [Fact]
    public void Load_ReportsTheCpuProvider()
    {
        var model = models.Model("fp32");
        Assert.Equal(ActiveProvider.CpuProviderName, model.ActiveProvider.Name);
        Assert.Equal(ProviderDevice.Cpu, model.ActiveProvider.Device);
        Assert.Empty(model.ActiveProvider.FallbackReasons);
    }

    [Fact]
    public void MissingModelFile_NamesTheFilenameField()
    {
        var folder = models.CopyWithConfig("fp32", c => c["model"]!["decoder"]!["filename"] = "absent.onnx");
        var ex = Assert.Throws<ModelFolderException>(() => OnnxModel.Load(folder, TinyModelFixture.OneThread));
        Assert.Equal("model.decoder.filename", ex.Field);
        Assert.Contains("absent.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("inputs", "input_ids", "model.decoder.inputs.input_ids")]
    [InlineData("inputs", "attention_mask", "model.decoder.inputs.attention_mask")]
    [InlineData("inputs", "past_key_names", "model.decoder.inputs.past_key_names")]
    [InlineData("outputs", "present_value_names", "model.decoder.outputs.present_value_names")]
    [InlineData("outputs", "logits", "model.decoder.outputs.logits")]
    public void NameNotInTheModel_NamesTheFieldAndTheModel(string section, string key, string field)
    {
        var folder = models.CopyWithConfig("fp32", c => c["model"]!["decoder"]![section]![key] = key.EndsWith("_names", StringComparison.Ordinal) ? "wrong.%d.name" : "wrong_name");
        var ex = Assert.Throws<ModelFolderException>(() => OnnxModel.Load(folder, TinyModelFixture.OneThread));
        Assert.Equal(field, ex.Field);
        Assert.EndsWith(GenAiConfig.FileName, ex.File, StringComparison.Ordinal);
        Assert.Contains("model.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooFewLayers_NamesTheUndescribedInput()
    {
        var folder = models.CopyWithConfig("fp32", c => c["model"]!["decoder"]!["num_hidden_layers"] = 1);
        var ex = Assert.Throws<ModelFolderException>(() => OnnxModel.Load(folder, TinyModelFixture.OneThread));
        Assert.EndsWith("model.onnx", ex.File, StringComparison.Ordinal);
        Assert.Contains("past_key_values.1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("num_hidden_layers", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("head_size", 16, "model.decoder.head_size")]
    [InlineData("num_key_value_heads", 4, "model.decoder.num_key_value_heads")]
    public void CacheShapeMismatch_NamesTheField(string key, int value, string field)
    {
        var folder = models.CopyWithConfig("fp32", c => c["model"]!["decoder"]![key] = value);
        var ex = Assert.Throws<ModelFolderException>(() => OnnxModel.Load(folder, TinyModelFixture.OneThread));
        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void VocabularyMismatch_NamesTheField()
    {
        var folder = models.CopyWithConfig("fp32", c => c["model"]!["vocab_size"] = 1001);
        var ex = Assert.Throws<ModelFolderException>(() => OnnxModel.Load(folder, TinyModelFixture.OneThread));
        Assert.Equal("model.vocab_size", ex.Field);
    }

    [Fact]
    public void CorruptModelFile_NamesTheModelFile()
    {
        var folder = models.CopyWithConfig("fp32", _ => { });
        var model = Path.Combine(folder, "model.onnx");
        File.Delete(model);
        File.WriteAllText(model, "not an onnx model");
        var ex = Assert.Throws<ModelFolderException>(() => OnnxModel.Load(folder, TinyModelFixture.OneThread));
        Assert.Equal(model, ex.File);
        Assert.Contains("cannot load", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidProviderLibrary_FallsBackToTheCpuAndSaysWhy()
    {
        using var dir = TestPaths.NewTempDir();
        var library = Path.Combine(dir.Path, "libnpu_ep.so");
        File.WriteAllText(library, "not a library");
        var logger = new ListLogger();
        var options = new RuntimeOptions
        {
            IntraOpNumThreads = 1,
            ProviderPolicy = ProviderPolicy.PreferNpu,
            ExecutionProviderLibraries = [new ExecutionProviderLibrary { Name = "npu-" + Guid.NewGuid().ToString("N"), Path = library }],
        };

        using var model = OnnxModel.Load(models.Folder("fp32"), options, logger);

        Assert.Equal(ActiveProvider.CpuProviderName, model.ActiveProvider.Name);
        Assert.Contains(library, Assert.Single(model.ActiveProvider.FallbackReasons), StringComparison.Ordinal);
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message.StartsWith("Falling back to the CPU", StringComparison.Ordinal) && e.Message.Contains(library, StringComparison.Ordinal));
        Assert.Contains(logger.Entries, e => e.Message.Contains("CPUExecutionProvider", StringComparison.Ordinal));
        using var sequence = model.CreateSequence(4);
        Assert.Equal(model.Config.VocabSize, sequence.Append([1, 2]).Length);
    }

    [Fact]
    public void CreateSequence_RefusesMoreThanTheContext()
    {
        var model = models.Model("fp32");
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateSequence(model.Config.ContextLength + 1));
        using var sequence = model.CreateSequence(3);
        sequence.Append([1, 2]);
        sequence.Append([3]);
        Assert.Contains("do not fit", Assert.Throws<InvalidOperationException>(() => sequence.Append([4])).Message, StringComparison.Ordinal);
    }
}
