using EdgeLlm.Runtime.Benchmarks;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.Cli.Doctor;

/// <summary>Whether a model shape fits the memory the agent may use.</summary>
internal sealed record ShapeFit(string Name, string Family, long WeightBytes, int ContextTokens, long KvCacheBytes, long OverheadBytes, long TotalBytes, string Verdict)
{
    public const string Fits = "fits";
    public const string Tight = "tight";
    public const string DoesNotFit = "does_not_fit";

    /// <summary>Memory above weights and KV cache for ONNX Runtime's arenas, the .NET runtime, SQLite and the manual index (the benchmark's RSS target).</summary>
    public const long RuntimeOverhead = RuntimeBenchmark.RssHeadroomTarget;

    /// <summary>Below this share of the budget a shape fits; up to the whole budget it is tight (the page cache and other processes get squeezed).</summary>
    public const double ComfortableShare = 0.8;

    /// <summary>
    /// Int4 weights + float32 KV cache for <paramref name="concurrency"/> sequences of <paramref name="contextTokens"/> tokens
    /// (capped at the shape's context) + <see cref="RuntimeOverhead"/>, against <paramref name="budgetBytes"/>.
    /// </summary>
    public static ShapeFit Of(ModelShape shape, int contextTokens, int concurrency, long budgetBytes)
    {
        var family = ModelFamily.All.Single(f => f.Name == shape.Family);
        var weights = shape.Int4WeightBytes(family.QkvBias);
        var tokens = Math.Min(contextTokens, shape.ContextLength);
        var kv = KvCache.Float32Bytes(shape.Layers, shape.KvHeads, shape.HeadSize, tokens) * concurrency;
        var total = weights + kv + RuntimeOverhead;
        var verdict = total <= budgetBytes * ComfortableShare ? Fits : total <= budgetBytes ? Tight : DoesNotFit;
        return new ShapeFit(shape.Name, shape.Family, weights, tokens, kv, RuntimeOverhead, total, verdict);
    }
}
