using System.Globalization;
using System.Runtime.InteropServices;
using EdgeLlm.Runtime.Benchmarks;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Providers;
using EdgeLlm.Runtime.Synthesis;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace EdgeLlm.Cli.Doctor;

/// <summary>What the report is about: the machine under <see cref="Root"/>, the agent's settings, and the shape to benchmark.</summary>
internal sealed record DoctorSettings
{
    public string Root { get; init; } = "/";
    public required string DataDir { get; init; }

    /// <summary>Tokens of one sequence: the agent's answer budget, the manuals context, and <see cref="HardwareCheck.PromptAllowanceTokens"/>.</summary>
    public required int ContextTokens { get; init; }

    public int Concurrency { get; init; } = 1;
    public int Threads { get; init; }

    /// <summary>The shape to benchmark; null: the active model's shape if it is one of the catalogue, else <see cref="HardwareCheck.DefaultShape"/>.</summary>
    public string? Shape { get; init; }

    public bool Bench { get; init; } = true;
}

/// <summary>Gathers the hardware report of `edgellm doctor`.</summary>
internal static class HardwareCheck
{
    /// <summary>The shape benchmarked when the device has no model of a known shape: small enough to finish in seconds.</summary>
    public const string DefaultShape = "smollm2-135m";

    /// <summary>Tokens of a sequence beyond the answer and the manuals context: system prompt, sensor readings, question, history.</summary>
    public const int PromptAllowanceTokens = 512;

    public const int BenchPromptTokens = 64;
    public const int BenchGeneratedTokens = 32;

    private static readonly string[] ProviderLibraryPatterns = ["libonnxruntime_providers_*.so*", "libQnnHtp*.so"];
    private static readonly string[] LibraryFolders = ["usr/lib", "usr/local/lib", "usr/lib/aarch64-linux-gnu", "usr/lib/x86_64-linux-gnu"];

    /// <summary>The shapes a device could run (the catalogue without the test-only <c>tiny</c>).</summary>
    public static IEnumerable<ModelShape> DeviceShapes => ModelShape.All.Where(s => s.Name != "tiny");

    /// <summary>The device shape named <paramref name="name"/>; null when there is none.</summary>
    public static ModelShape? FindShape(string name) => DeviceShapes.FirstOrDefault(s => s.Name == name);

    public static string UnknownShape(string name) => $"--shape: '{name}' is not one of {string.Join(", ", DeviceShapes.Select(s => s.Name))}";

    private static ModelShape Shape(string name) => FindShape(name) ?? throw new ArgumentException(UnknownShape(name));

    public static async Task<DoctorReport> RunAsync(DoctorSettings settings, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var benchShape = settings.Shape is { } named ? Shape(named) : ActiveShape(settings.DataDir) ?? Shape(DefaultShape);
        var probe = new DeviceProbe(settings.Root);
        var cpuInfo = probe.Cpu();
        var memInfo = probe.Memory();
        var cgroup = probe.CgroupLimitBytes();
        var budget = Math.Min(memInfo.AvailableBytes, cgroup ?? long.MaxValue);
        var memory = new MemoryReport(memInfo.TotalBytes, memInfo.AvailableBytes, cgroup, budget, settings.ContextTokens, settings.Concurrency);
        var cpu = new CpuReport(RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(), Environment.ProcessorCount, CpuTopology.PhysicalCores,
            cpuInfo.ModelName, CpuFeatures.OfThisProcess(cpuInfo.Flags));
        var shapes = DeviceShapes.Select(s => ShapeFit.Of(s, settings.ContextTokens, settings.Concurrency, budget)).ToList();
        var ort = OnnxRuntime(probe);
        var npu = new NpuReport(probe.NpuNodes());
        var jetson = probe.Jetson();
        var disk = Disk(settings.DataDir);

        BenchReport? bench = null;
        var benchFit = ShapeFit.Of(benchShape, settings.ContextTokens, settings.Concurrency, budget);
        if (settings.Bench && ort.Error is null)
        {
            bench = benchFit.Verdict == ShapeFit.DoesNotFit
                ? Skipped(benchShape, $"{benchShape.Name} does not fit in memory")
                : await BenchAsync(benchShape, settings.Threads, progress, cancellationToken).ConfigureAwait(false);
        }

        var verdicts = new Dictionary<string, string>
        {
            ["cpu"] = CpuVerdict(cpu),
            ["memory"] = shapes.Any(s => s.Verdict == ShapeFit.Fits) ? "ok"
                : shapes.Any(s => s.Verdict == ShapeFit.Tight) ? "warning: every model shape is tight in the available memory"
                : $"error: no model shape fits in {Mib(budget)} MiB",
            ["disk"] = disk.FreeBytes >= 2L * 1024 * 1024 * 1024 ? "ok" : $"warning: {Mib(disk.FreeBytes)} MiB free at {disk.MeasuredAt}; a model update needs room for two models",
            ["jetson"] = jetson is null ? "ok: not a Jetson"
                : jetson.CudaLibraries.Count > 0 ? "ok"
                : "warning: Jetson without CUDA libraries (install JetPack's CUDA runtime for the GPU)",
            ["npu"] = npu.DeviceNodes.Count > 0 && !ort.Providers.Any(p => p.Device == nameof(ProviderDevice.Npu)) && ort.ProviderLibraries.Count == 0
                ? "warning: an NPU device node exists but no NPU execution provider library was found"
                : "ok",
            ["onnxruntime"] = ort.Error is null ? "ok" : $"error: ONNX Runtime does not load: {ort.Error}",
            ["bench"] = bench is null ? "ok: skipped" : bench.Skipped is null ? "ok" : $"warning: {bench.Skipped}",
        };
        return new DoctorReport
        {
            Cpu = cpu,
            Memory = memory,
            Disk = disk,
            Jetson = jetson,
            Npu = npu,
            Devices = probe.SensorNodes(),
            OnnxRuntime = ort,
            Shapes = shapes,
            Bench = bench,
            Verdicts = verdicts,
            CanRun = ort.Error is null && shapes.Any(s => s.Verdict != ShapeFit.DoesNotFit),
        };
    }

    private static string CpuVerdict(CpuReport cpu) => cpu.Architecture switch
    {
        "x64" when !cpu.Features.GetValueOrDefault("avx2") => "warning: no AVX2; int4 matrix products run several times slower",
        "arm64" when !cpu.Features.GetValueOrDefault("dotprod") => "warning: no dot-product instructions (ARMv8.2 dotprod); int4 decode is slow",
        _ => "ok",
    };

    /// <summary>The catalogue shape of the device's active model, matched by its dimensions; null when there is none.</summary>
    private static ModelShape? ActiveShape(string dataDir)
    {
        var active = Path.Combine(dataDir, "models", "active");
        if (!File.Exists(Path.Combine(active, ModelSynthesizer.GenAiConfigFile)))
        {
            return null;
        }

        var info = ModelFolderInfo.Read(active);
        return DeviceShapes.FirstOrDefault(s => s.Layers == info.Layers && s.HiddenSize == info.HiddenSize && s.KvHeads == info.KeyValueHeads && s.VocabSize == info.VocabSize);
    }

    private static OnnxRuntimeReport OnnxRuntime(DeviceProbe probe)
    {
        var folders = new List<string> { AppContext.BaseDirectory };
        folders.AddRange((Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
        folders.AddRange(LibraryFolders.Select(d => Path.Combine(probe.Root, d)));
        var libraries = folders.Where(Directory.Exists).Distinct()
            .SelectMany(d => ProviderLibraryPatterns.SelectMany(p => Directory.EnumerateFiles(d, p)))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        try
        {
            var env = OrtEnv.Instance();
            var providers = env.GetAvailableProviders()
                .Select(p => new ProviderReport(p, ExecutionProviderSelector.DeviceOfBuiltIn(p).ToString().ToLowerInvariant()))
                .ToList();
            return new OnnxRuntimeReport(env.GetVersionString(), providers, libraries, null);
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            return new OnnxRuntimeReport(null, [], libraries, ex.Message);
        }
    }

    private static DiskReport Disk(string dataDir)
    {
        var existing = Path.GetFullPath(dataDir);
        while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
        {
            existing = parent;
        }

        var drive = new DriveInfo(existing);
        return new DiskReport(dataDir, existing, drive.AvailableFreeSpace, drive.TotalSize);
    }

    private static async Task<BenchReport> BenchAsync(ModelShape shape, int threads, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(Path.GetTempPath(), $"edgellm-doctor-{Guid.NewGuid():N}");
        try
        {
            progress?.Report($"synthesizing {shape.Name} (random int4 weights) in {folder}");
            ModelSynthesizer.Synthesize(new SynthesisOptions(shape.Family, shape.Name, "int4", folder, Seed: 1), null, cancellationToken);
            progress?.Report($"measuring {BenchPromptTokens} prompt tokens and {BenchGeneratedTokens} generated tokens");
            var options = new RuntimeOptions { ProviderPolicy = ProviderPolicy.CpuOnly, IntraOpNumThreads = threads > 0 ? threads : null };
            using var model = OnnxModel.Load(folder, options, NullLogger.Instance);
            var result = await RuntimeBenchmark.RunAsync(model, BenchPromptTokens, BenchGeneratedTokens, runs: 1, cancellationToken).ConfigureAwait(false);
            return new BenchReport(shape.Name, result.Provider, result.Threads, result.PromptTokens, result.GeneratedTokens,
                result.PrefillTokensPerSecond, result.DecodeTokensPerSecond, result.TimeToFirstTokenMs, result.PeakRssBytes, null);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static BenchReport Skipped(ModelShape shape, string why) => new(shape.Name, null, 0, 0, 0, 0, 0, 0, 0, why);

    internal static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F0", CultureInfo.InvariantCulture);
}
