using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.Runtime.Tests.Synthesis;

public sealed class ShapeSizeTests
{
    [Theory]
    // A real shape: in tiny, the 4 KiB alignment of each tensor in the data file outweighs the tensors themselves.
    [InlineData("llama", "smollm2-135m")]
    [InlineData("qwen2", "smollm2-135m")]
    public void Int4WeightBytes_MatchesWhatTheSynthesizerWrites(string family, string shapeName)
    {
        using var dir = TestPaths.NewTempDir();
        var written = ModelSynthesizer.Synthesize(new SynthesisOptions(family, shapeName, "int4", dir.Path, Seed: 1)).WeightBytes;
        var shape = ModelShape.All.Single(s => s.Name == shapeName);
        var estimate = shape.Int4WeightBytes(ModelFamily.All.Single(f => f.Name == family).QkvBias);
        Assert.NotEqual(estimate, shape.Int4WeightBytes(!ModelFamily.All.Single(f => f.Name == family).QkvBias));

        // The external data file pads tensors to an alignment boundary; the estimate counts tensor bytes only.
        Assert.InRange(written - estimate, 0, written / 100);
    }

    [Fact]
    public void Family_NamesTheReleasedModelsFamily()
    {
        Assert.Equal("qwen2", ModelShape.All.Single(s => s.Name == "qwen2.5-0.5b").Family);
        Assert.Equal("llama", ModelShape.All.Single(s => s.Name == "smollm2-135m").Family);
        Assert.Equal("llama", ModelShape.All.Single(s => s.Name == "llama-3.2-1b").Family);
        Assert.Equal("phi3", ModelShape.All.Single(s => s.Name == "phi-3-mini").Family);
    }
}
