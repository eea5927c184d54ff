using System.ComponentModel.DataAnnotations;
using EdgeLlm.Runtime.Providers;

namespace EdgeLlm.Runtime.Generation;

/// <summary>How ONNX Runtime sessions are created for a model: threads, execution providers, graph optimization.</summary>
public sealed class RuntimeOptions
{
    /// <summary>
    /// Threads ONNX Runtime uses inside one operator. Default null: genai_config.json's
    /// <c>intra_op_num_threads</c> if set, else one per physical core (ONNX Runtime's own default is half the hardware threads).
    /// </summary>
    [Range(1, 1024)]
    public int? IntraOpNumThreads { get; set; }

    /// <summary>Which device to try first. Default <see cref="ProviderPolicy.PreferNpu"/>, which means the CPU when no NPU or GPU provider is configured.</summary>
    public ProviderPolicy ProviderPolicy { get; set; } = ProviderPolicy.PreferNpu;

    /// <summary>Plugin execution provider libraries registered at start. Default none.</summary>
    public IList<ExecutionProviderLibrary> ExecutionProviderLibraries { get; init; } = [];

    /// <summary>ONNX Runtime graph optimization level. Default <see cref="GraphOptimization.All"/>.</summary>
    public GraphOptimization GraphOptimization { get; set; } = GraphOptimization.All;

    /// <summary>
    /// Largest number of prompt tokens fed to the model in one run. Default 128; 0 feeds the whole prompt in one run.
    /// Models in the builder's format return logits for every prompt position (prompt length × vocabulary floats:
    /// 297 MiB for 512 tokens of Qwen2.5's vocabulary), so a bound keeps the prefill's memory flat; on a 2-core
    /// machine 128-token chunks were also slightly faster than one run (docs/benchmarks.md).
    /// </summary>
    public int PrefillChunkTokens { get; set; } = 128;
}

/// <summary>ONNX Runtime graph optimization levels.</summary>
public enum GraphOptimization
{
    Disabled,
    Basic,
    Extended,
    All,
}
