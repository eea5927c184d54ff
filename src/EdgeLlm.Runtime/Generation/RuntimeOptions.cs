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

    /// <summary>
    /// Compute logits for the last prompt position only. Default true: when the graph computes logits for every
    /// position (the model builder's default), a rewritten graph that keeps only the last position is written once,
    /// cached next to the model (<c>.edgellm/</c>, keyed by the model file's hash) and loaded instead; a graph without
    /// the pattern is loaded as it is. Set false for callers that need every position's logits (scoring a text).
    /// </summary>
    public bool LastPositionLogitsOnly { get; set; } = true;

    /// <summary>
    /// Where rewritten graphs are cached when the model folder is read-only (e.g. the service's data directory).
    /// Default null: the model folder's <c>.edgellm/</c>, then the system temp folder.
    /// </summary>
    public string? GraphCacheDirectory { get; set; }

    /// <summary>
    /// Whether ONNX Runtime's intra-op threads spin while waiting for work (<c>session.intra_op.allow_spinning</c>).
    /// Spinning answers the next operator sooner but keeps the cores busy between runs. Default null: ONNX Runtime's
    /// default (spinning on).
    /// </summary>
    public bool? AllowSpinning { get; set; }

    /// <summary>
    /// Further ONNX Runtime session configuration entries (<c>AddSessionConfigEntry</c>, e.g.
    /// <c>session.dynamic_block_base</c>), applied after the ones the other options set. Default none.
    /// </summary>
    public IDictionary<string, string> SessionConfigEntries { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// When set, ONNX Runtime profiles every run of the session (operator by operator, chrome://tracing JSON) into a
    /// file whose path starts with this prefix, written when the model is disposed. Profiling slows runs down; it is
    /// for finding where time goes, not for speed figures. Default null: off.
    /// </summary>
    public string? ProfilePathPrefix { get; set; }

    /// <summary>
    /// Memory for the key/value state of recent prompts, so that a prompt starting with a cached one (the system
    /// prompt, the same manual passages) prefills only the rest. Least recently used prompts are dropped first.
    /// Default 64 MiB (about 2,600 tokens of Qwen2.5-0.5B); 0 turns prefix caching off.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long PrefixCacheBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Shortest shared prefix, in tokens, worth reusing from the prefix cache. Default 32.</summary>
    [Range(1, int.MaxValue)]
    public int PrefixCacheMinTokens { get; set; } = 32;

    /// <summary>A copy whose collections are copies too, so changing it leaves this one as it is.</summary>
    internal RuntimeOptions Copy()
    {
        return new RuntimeOptions
        {
            IntraOpNumThreads = IntraOpNumThreads,
            ProviderPolicy = ProviderPolicy,
            ExecutionProviderLibraries = [.. ExecutionProviderLibraries],
            GraphOptimization = GraphOptimization,
            PrefillChunkTokens = PrefillChunkTokens,
            LastPositionLogitsOnly = LastPositionLogitsOnly,
            GraphCacheDirectory = GraphCacheDirectory,
            AllowSpinning = AllowSpinning,
            SessionConfigEntries = new Dictionary<string, string>(SessionConfigEntries, StringComparer.Ordinal),
            ProfilePathPrefix = ProfilePathPrefix,
            PrefixCacheBytes = PrefixCacheBytes,
            PrefixCacheMinTokens = PrefixCacheMinTokens,
        };
    }
}

/// <summary>ONNX Runtime graph optimization levels.</summary>
public enum GraphOptimization
{
    Disabled,
    Basic,
    Extended,
    All,
}
