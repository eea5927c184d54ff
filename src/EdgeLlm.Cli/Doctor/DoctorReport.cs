using System.Text.Json.Serialization;

namespace EdgeLlm.Cli.Doctor;

/// <summary>What `edgellm doctor` found; serialized with snake_case names for <c>--json</c>.</summary>
internal sealed record DoctorReport
{
    public required CpuReport Cpu { get; init; }
    public required MemoryReport Memory { get; init; }
    public required DiskReport Disk { get; init; }

    /// <summary>Null when the machine is not a Jetson.</summary>
    public required JetsonReport? Jetson { get; init; }

    public required NpuReport Npu { get; init; }
    public required DeviceNodes Devices { get; init; }
    [JsonPropertyName("onnxruntime")]
    public required OnnxRuntimeReport OnnxRuntime { get; init; }
    public required IReadOnlyList<ShapeFit> Shapes { get; init; }

    /// <summary>Null with <c>--no-bench</c>.</summary>
    public required BenchReport? Bench { get; init; }

    /// <summary>Per section: <c>ok</c>, or <c>warning: why</c>, or <c>error: why</c> when the agent cannot run.</summary>
    public required IReadOnlyDictionary<string, string> Verdicts { get; init; }

    /// <summary>False when the agent cannot run here (ONNX Runtime does not load, or no model shape fits).</summary>
    public required bool CanRun { get; init; }
}

internal sealed record CpuReport(string Architecture, int LogicalCores, int PhysicalCores, string? Model, IReadOnlyDictionary<string, bool> Features);

/// <summary>Memory in bytes; <see cref="BudgetBytes"/> is what a model may use: MemAvailable, or the cgroup limit when lower.</summary>
internal sealed record MemoryReport(long TotalBytes, long AvailableBytes, long? CgroupLimitBytes, long BudgetBytes, int ContextTokens, int Concurrency);

/// <summary>Free space of the file system holding the data directory (or its nearest existing parent).</summary>
internal sealed record DiskReport(string DataDir, string MeasuredAt, long FreeBytes, long TotalBytes);

internal sealed record NpuReport(IReadOnlyList<string> DeviceNodes);

internal sealed record ProviderReport(string Name, string Device);

/// <summary>ONNX Runtime's version and providers, and execution-provider libraries on disk (which may still need registering).</summary>
internal sealed record OnnxRuntimeReport(string? Version, IReadOnlyList<ProviderReport> Providers, IReadOnlyList<string> ProviderLibraries, string? Error);

/// <summary>Speed of a synthesized model of <see cref="Shape"/> on this machine (random weights: the speed is real, the text is noise).</summary>
internal sealed record BenchReport(
    string Shape, string? Provider, int Threads, int PromptTokens, int GeneratedTokens,
    double PrefillTokensPerSecond, double DecodeTokensPerSecond, double TimeToFirstTokenMs, long PeakRssBytes, string? Skipped);
