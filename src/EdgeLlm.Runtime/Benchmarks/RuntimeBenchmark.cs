using System.Diagnostics;
using System.Globalization;
using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Runtime.Benchmarks;

/// <summary>The median of repeated measurements with their smallest and largest value.</summary>
internal sealed record Figure(double Median, double Min, double Max)
{
    public static Figure Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            throw new ArgumentException("No measurements.", nameof(values));
        }

        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        return new Figure(median, sorted[0], sorted[^1]);
    }
}

/// <summary>What one benchmark measured; the figures of docs/benchmarks.md.</summary>
internal sealed record BenchmarkResult
{
    public required string Model { get; init; }
    public required string Provider { get; init; }
    public required int Threads { get; init; }
    public required int PromptTokens { get; init; }
    public required int GeneratedTokens { get; init; }
    public required int Runs { get; init; }

    /// <summary>Prompt tokens per second of the prefill (median over runs).</summary>
    public required double PrefillTokensPerSecond { get; init; }

    /// <summary>Generated tokens per second after the first (median over runs).</summary>
    public required double DecodeTokensPerSecond { get; init; }

    /// <summary>From the start of the request to the first generated token (median over runs).</summary>
    public required double TimeToFirstTokenMs { get; init; }

    /// <summary>Prefill tokens per second: median, min and max over runs.</summary>
    public required Figure Prefill { get; init; }

    /// <summary>Decode tokens per second: median, min and max over runs.</summary>
    public required Figure Decode { get; init; }

    /// <summary>Time to first token in milliseconds: median, min and max over runs.</summary>
    public required Figure FirstToken { get; init; }

    /// <summary>Whether the session computes logits for the last position only (the rewritten, pruned graph).</summary>
    public required bool LastPositionLogitsOnly { get; init; }

    /// <summary>Largest resident set of the process so far (VmHWM; reset before the runs where Linux allows it).</summary>
    public required long PeakRssBytes { get; init; }

    /// <summary>Managed bytes allocated by the whole process per decoded token (median over runs).</summary>
    public required double AllocatedBytesPerToken { get; init; }

    /// <summary>Share of decode wall time spent outside <c>InferenceSession.Run</c> (median over runs).</summary>
    public required double DecodeTimeOutsideRunShare { get; init; }

    public required long WeightBytes { get; init; }
    public required long KvCacheBytes { get; init; }

    /// <summary>The targets and whether this run met them.</summary>
    public required IReadOnlyDictionary<string, bool> Targets { get; init; }
}

/// <summary>
/// Measures a loaded model the way a user of the device would feel it: a prompt of a given length, then a fixed
/// number of generated tokens (stop tokens disabled), after one warm-up generation.
/// </summary>
internal static class RuntimeBenchmark
{
    /// <summary>Managed allocation budget per decoded token (bytes).</summary>
    public const double AllocationTarget = 4096;

    /// <summary>Largest share of decode time outside ONNX Runtime's Run.</summary>
    public const double OutsideRunTarget = 0.02;

    /// <summary>Memory allowed above weights and KV cache.</summary>
    public const long RssHeadroomTarget = 150L * 1024 * 1024;

    public static async Task<BenchmarkResult> RunAsync(OnnxModel model, int promptTokens, int generatedTokens, int runs, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(promptTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(generatedTokens, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        if (promptTokens + generatedTokens > model.Config.ContextLength)
        {
            throw new ArgumentException($"--prompt-tokens + --gen-tokens ({promptTokens + generatedTokens}) exceed the model's context ({model.Config.ContextLength})");
        }

        var generator = new Generator(model);
        var prompt = BenchmarkPrompt(model.Config.VocabSize, promptTokens);
        var options = new GenerationOptions { MaxNewTokens = generatedTokens, DoSample = false, StopTokenIds = [] };

        // Warm-up: JIT, ONNX Runtime's arenas and the OS page cache of the weights.
        await MeasureOnceAsync(model, generator, prompt[..Math.Min(16, prompt.Length)], options with { MaxNewTokens = 4 }, cancellationToken).ConfigureAwait(false);
        ResetPeakResident();

        var samples = new List<Sample>();
        for (var i = 0; i < runs; i++)
        {
            // Every run prefills the whole prompt: the same prompt again would otherwise come from the prefix cache.
            model.PrefixCache.Clear();
            samples.Add(await MeasureOnceAsync(model, generator, prompt, options, cancellationToken).ConfigureAwait(false));
        }

        var weights = WeightBytes(model.Folder);
        var d = model.Config.Decoder;
        var kv = KvCache.Float32Bytes(d.NumHiddenLayers, d.NumKeyValueHeads, d.HeadSize, promptTokens + generatedTokens);
        var result = new BenchmarkResult
        {
            Model = model.Folder,
            Provider = model.ActiveProvider.Name,
            Threads = model.Options.IntraOpNumThreads ?? model.Config.Decoder.SessionOptions.IntraOpNumThreads ?? CpuTopology.PhysicalCores,
            PromptTokens = promptTokens,
            GeneratedTokens = generatedTokens,
            Runs = runs,
            PrefillTokensPerSecond = Median(samples, s => promptTokens / s.PrefillSeconds),
            DecodeTokensPerSecond = Median(samples, s => (generatedTokens - 1) / s.DecodeSeconds),
            TimeToFirstTokenMs = Median(samples, s => s.PrefillSeconds * 1000),
            Prefill = Figure.Of(samples.Select(s => promptTokens / s.PrefillSeconds)),
            Decode = Figure.Of(samples.Select(s => (generatedTokens - 1) / s.DecodeSeconds)),
            FirstToken = Figure.Of(samples.Select(s => s.PrefillSeconds * 1000)),
            LastPositionLogitsOnly = model.Signature.LastPositionLogitsOnly,
            PeakRssBytes = PeakResidentBytes(),
            AllocatedBytesPerToken = Median(samples, s => (double)s.DecodeAllocatedBytes / (generatedTokens - 1)),
            DecodeTimeOutsideRunShare = Median(samples, s => Math.Max(0, s.DecodeSeconds - s.DecodeRunSeconds) / s.DecodeSeconds),
            WeightBytes = weights,
            KvCacheBytes = kv,
            Targets = new Dictionary<string, bool>(),
        };
        return result with
        {
            Targets = new Dictionary<string, bool>
            {
                ["decode_time_outside_run<=2%"] = result.DecodeTimeOutsideRunShare <= OutsideRunTarget,
                ["allocated_bytes_per_token<=4KB"] = result.AllocatedBytesPerToken <= AllocationTarget,
                ["peak_rss<=weights+kv+150MB"] = result.PeakRssBytes <= weights + kv + RssHeadroomTarget,
            },
        };
    }

    /// <summary>A fixed, varied prompt: ids spread over the vocabulary so embeddings and attention see real variety.</summary>
    internal static int[] BenchmarkPrompt(int vocabSize, int length)
    {
        var ids = new int[length];
        var x = 0x9E3779B9u;
        for (var i = 0; i < length; i++)
        {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ids[i] = (int)(x % (uint)Math.Max(1, vocabSize - 512));
        }

        return ids;
    }

    /// <summary>Resets VmHWM to the current resident set (Linux 4.0+), so the next peak is this measurement's own.</summary>
    internal static void ResetPeakResident()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or not allowed: the peak stays the process's peak so far, which is an upper bound.
        }
    }

    internal static async Task<Sample> MeasureOnceAsync(OnnxModel model, Generator generator, int[] prompt, GenerationOptions options, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        long firstToken = 0, allocatedAtFirst = 0, produced = 0;
        var cachedPromptTokens = 0;
        var runTimeAtFirst = TimeSpan.Zero;
        await foreach (var token in generator.GenerateAsync(prompt, options, cancellationToken).ConfigureAwait(false))
        {
            if (token.FinishReason == FinishReason.Cancelled)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (++produced == 1)
            {
                firstToken = Stopwatch.GetTimestamp();
                cachedPromptTokens = token.CachedPromptTokens;
                runTimeAtFirst = model.RunTime;
                allocatedAtFirst = GC.GetTotalAllocatedBytes(precise: true);
            }
        }

        var end = Stopwatch.GetTimestamp();
        return new Sample(
            Stopwatch.GetElapsedTime(start, firstToken).TotalSeconds,
            Stopwatch.GetElapsedTime(firstToken, end).TotalSeconds,
            (model.RunTime - runTimeAtFirst).TotalSeconds,
            GC.GetTotalAllocatedBytes(precise: true) - allocatedAtFirst,
            cachedPromptTokens);
    }

    private static double Median(List<Sample> samples, Func<Sample, double> pick) => Figure.Of(samples.Select(pick)).Median;

    internal static long WeightBytes(string folder) =>
        Directory.EnumerateFiles(folder).Where(f => f.EndsWith(".onnx", StringComparison.Ordinal) || f.EndsWith(".onnx.data", StringComparison.Ordinal) || f.EndsWith(".onnx_data", StringComparison.Ordinal))
            .Sum(f => ((File.ResolveLinkTarget(f, returnFinalTarget: true) as FileInfo) ?? new FileInfo(f)).Length);

    /// <summary>VmHWM from /proc/self/status (Linux); the working set's peak elsewhere.</summary>
    internal static long PeakResidentBytes()
    {
        const string path = "/proc/self/status";
        if (File.Exists(path))
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = line["VmHWM:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }

        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    internal readonly record struct Sample(double PrefillSeconds, double DecodeSeconds, double DecodeRunSeconds, long DecodeAllocatedBytes, int CachedPromptTokens);
}
