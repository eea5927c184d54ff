using EdgeLlm.Cli.Doctor;
using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.Cli.Tests.Doctor;

public sealed class ShapeFitTests
{
    private const long MiB = 1024 * 1024;

    private static ModelShape Shape(string name) => ModelShape.All.Single(s => s.Name == name);

    [Fact]
    public void Llama1b_On512MiB_DoesNotFit()
    {
        var fit = ShapeFit.Of(Shape("llama-3.2-1b"), 2048, 1, 512 * MiB);
        Assert.Equal(ShapeFit.DoesNotFit, fit.Verdict);
        Assert.True(fit.TotalBytes > 512 * MiB);
    }

    [Fact]
    public void Total_IsWeightsPlusKvCachePlusOverhead()
    {
        var shape = Shape("qwen2.5-0.5b");
        var fit = ShapeFit.Of(shape, 2048, 2, 64L * 1024 * MiB);
        Assert.Equal(shape.Int4WeightBytes(qkvBias: true), fit.WeightBytes);
        Assert.Equal(2L * 2 * 24 * 2 * 64 * sizeof(float) * 2048, fit.KvCacheBytes);
        Assert.Equal(fit.WeightBytes + fit.KvCacheBytes + (150 * MiB), fit.TotalBytes);
        Assert.Equal(ShapeFit.Fits, fit.Verdict);
    }

    [Fact]
    public void ContextBeyondTheShapes_IsCappedAtItsContextLength()
    {
        var fit = ShapeFit.Of(Shape("tiny"), 100_000, 1, 1024 * MiB);
        Assert.Equal(512, fit.ContextTokens);
    }

    [Fact]
    public void WithinTheBudgetButAboveItsComfortableShare_IsTight()
    {
        var shape = Shape("smollm2-135m");
        var need = ShapeFit.Of(shape, 2048, 1, long.MaxValue).TotalBytes;
        Assert.Equal(ShapeFit.Tight, ShapeFit.Of(shape, 2048, 1, need).Verdict);
        Assert.Equal(ShapeFit.DoesNotFit, ShapeFit.Of(shape, 2048, 1, need - 1).Verdict);
        Assert.Equal(ShapeFit.Fits, ShapeFit.Of(shape, 2048, 1, (long)(need / ShapeFit.ComfortableShare) + 1).Verdict);
    }
}
