using System.Globalization;
using EdgeLlm.Runtime.Generation;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Runtime.Benchmarks;

/// <summary>What <see cref="BenchmarkSuite"/> measures.</summary>
/// <param name="PromptLengths">Prompt lengths of the prefill/decode runs (issue 9: 128 and 512).</param>
/// <param name="GeneratedTokens">Tokens generated per run (128).</param>
/// <param name="Runs">Measured repetitions of every figure (after one warm-up).</param>
/// <param name="SystemPromptTokens">Shared prefix of the prefix-cache comparison (400).</param>
/// <param name="QuestionTokens">Tokens after the shared prefix (50).</param>
internal sealed record SuiteSettings(IReadOnlyList<int> PromptLengths, int GeneratedTokens, int Runs, int SystemPromptTokens = 400, int QuestionTokens = 50);

/// <summary>One configuration's figures: the model's graph form and a <see cref="BenchmarkResult"/> per prompt length.</summary>
internal sealed record SuiteVariant(string Variant, string GraphReason, IReadOnlyList<BenchmarkResult> Results);

/// <summary>Time to first token for a prompt whose shared prefix is cached (hit) or not (miss), measured alternately.</summary>
internal sealed record PrefixCacheFigures(int PromptTokens, int CachedTokens, Figure MissFirstTokenMs, Figure HitFirstTokenMs);

/// <summary>
/// Decode tokens/s of the generator and of <see cref="BareDecodeLoop"/>, measured alternately (which goes first swaps
/// every round), and the generator's speed relative to the bare loop's within each round.
/// </summary>
internal sealed record BareLoopFigures(int PromptTokens, Figure GeneratorDecode, Figure BareDecode, Figure GeneratorVsBare);

/// <summary>Decode tokens/s with ONNX Runtime's intra-op spinning on and off.</summary>
internal sealed record SpinningFigures(int PromptTokens, Figure On, Figure Off);

internal sealed record SuiteResult
{
    public required string Model { get; init; }
    public required int Threads { get; init; }
    public required int Runs { get; init; }
    public required int GeneratedTokens { get; init; }

    /// <summary>The builder's graph (logits for every position) and the pruned graph (last position only).</summary>
    public required IReadOnlyList<SuiteVariant> Variants { get; init; }

    public required PrefixCacheFigures PrefixCache { get; init; }
    public required BareLoopFigures BareLoop { get; init; }
    public required SpinningFigures Spinning { get; init; }

    /// <summary>Ratios of figures measured in this run (so machine noise cancels): above 1 means the first named is faster.</summary>
    public required IReadOnlyDictionary<string, double> Ratios { get; init; }

    /// <summary>Issue 9's targets and whether this run met them.</summary>
    public required IReadOnlyDictionary<string, bool> Targets { get; init; }
}

/// <summary>
/// Issue 9's benchmark on one model folder: prefill and decode for each prompt length with the builder's graph and
/// with the pruned (last-position logits) graph, prefix-cache hit vs miss, the generator vs a bare Run loop, and
/// spinning on vs off. Models are loaded one configuration at a time so each peak resident set is its own.
/// </summary>
internal static class BenchmarkSuite
{
    public const double DecodeTarget = 85;
    public const double PrefillTarget = 450;
    public const double RewriteTarget = 1.8;
    public const double PrefixHitTarget = 4;
    public const double BareLoopTarget = 0.97;

    private const string Builder = "builder";
    private const string Pruned = "pruned";

    public static async Task<SuiteResult> RunAsync(string folder, RuntimeOptions options, SuiteSettings settings, ILogger? logger = null,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.PromptLengths.Count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Runs, 1);
        var variants = new List<SuiteVariant>();
        foreach (var (name, lastOnly) in new[] { (Builder, false), (Pruned, true) })
        {
            using var model = OnnxModel.Load(folder, With(options, o => o.LastPositionLogitsOnly = lastOnly), logger);
            var results = new List<BenchmarkResult>();
            foreach (var length in settings.PromptLengths)
            {
                progress?.Report($"{name}: prompt {length}, {settings.GeneratedTokens} generated, {settings.Runs} runs");
                results.Add(await RuntimeBenchmark.RunAsync(model, length, settings.GeneratedTokens, settings.Runs, cancellationToken).ConfigureAwait(false));
            }

            variants.Add(new SuiteVariant(name, model.Graph.Reason, results));
        }

        var shortest = settings.PromptLengths.Min();
        PrefixCacheFigures prefix;
        BareLoopFigures bare;
        using (var model = OnnxModel.Load(folder, options, logger))
        {
            progress?.Report($"prefix cache: {settings.SystemPromptTokens}-token prefix + {settings.QuestionTokens}-token question, hit vs miss");
            prefix = await MeasurePrefixCacheAsync(model, settings, cancellationToken).ConfigureAwait(false);
            progress?.Report($"generator vs bare Run loop: prompt {shortest}, {settings.GeneratedTokens} generated");
            bare = await MeasureBareLoopAsync(model, shortest, settings, cancellationToken).ConfigureAwait(false);
        }

        progress?.Report($"spinning on vs off: prompt {shortest}, {settings.GeneratedTokens} generated");
        var spinning = new SpinningFigures(shortest,
            await MeasureDecodeAsync(folder, With(options, o => o.AllowSpinning = true), shortest, settings, logger, cancellationToken).ConfigureAwait(false),
            await MeasureDecodeAsync(folder, With(options, o => o.AllowSpinning = false), shortest, settings, logger, cancellationToken).ConfigureAwait(false));

        var ratios = new Dictionary<string, double>(StringComparer.Ordinal);
        var builder = variants[0].Results;
        var pruned = variants[1].Results;
        for (var i = 0; i < pruned.Count; i++)
        {
            ratios[string.Create(CultureInfo.InvariantCulture, $"prefill_rewrite_vs_builder@{pruned[i].PromptTokens}")] = pruned[i].Prefill.Median / builder[i].Prefill.Median;
        }

        ratios["first_token_prefix_miss_vs_hit"] = prefix.MissFirstTokenMs.Median / prefix.HitFirstTokenMs.Median;
        ratios["decode_generator_vs_bare_run"] = bare.GeneratorVsBare.Median;
        ratios["decode_spinning_on_vs_off"] = spinning.On.Median / spinning.Off.Median;

        return new SuiteResult
        {
            Model = folder,
            Threads = pruned[0].Threads,
            Runs = settings.Runs,
            GeneratedTokens = settings.GeneratedTokens,
            Variants = variants,
            PrefixCache = prefix,
            BareLoop = bare,
            Spinning = spinning,
            Ratios = ratios,
            Targets = Targets(pruned, ratios),
        };
    }

    private static Dictionary<string, bool> Targets(IReadOnlyList<BenchmarkResult> pruned, Dictionary<string, double> ratios)
    {
        var targets = new Dictionary<string, bool>(StringComparer.Ordinal)
        {
            [$"decode>={DecodeTarget}tok/s"] = pruned.All(r => r.Decode.Median >= DecodeTarget),
            [$"first_token_prefix_hit>={PrefixHitTarget}x"] = ratios["first_token_prefix_miss_vs_hit"] >= PrefixHitTarget,
            [$"decode_within_3%_of_bare_run"] = ratios["decode_generator_vs_bare_run"] >= BareLoopTarget,
        };
        if (pruned.FirstOrDefault(r => r.PromptTokens == 512) is { } at512)
        {
            targets[$"prefill@512>={PrefillTarget}tok/s"] = at512.Prefill.Median >= PrefillTarget;
            targets[$"prefill_rewrite@512>={RewriteTarget}x"] = ratios["prefill_rewrite_vs_builder@512"] >= RewriteTarget;
            targets["peak_rss@512<=weights+kv+150MB"] = at512.PeakRssBytes <= at512.WeightBytes + at512.KvCacheBytes + RuntimeBenchmark.RssHeadroomTarget;
        }

        return targets;
    }

    /// <summary>
    /// Alternates a miss (empty cache) and a hit (the cache holds the same prefix with another question) on the same
    /// model; both run to the first token only.
    /// </summary>
    private static async Task<PrefixCacheFigures> MeasurePrefixCacheAsync(OnnxModel model, SuiteSettings settings, CancellationToken cancellationToken)
    {
        var vocab = model.Config.VocabSize;
        var length = settings.SystemPromptTokens + settings.QuestionTokens;
        var system = RuntimeBenchmark.BenchmarkPrompt(vocab, settings.SystemPromptTokens);
        var questions = RuntimeBenchmark.BenchmarkPrompt(vocab, settings.QuestionTokens * ((2 * settings.Runs) + 2));
        int[] Prompt(int i) => [.. system, .. questions.AsSpan(i * settings.QuestionTokens, settings.QuestionTokens)];

        var generator = new Generator(model);
        var options = new GenerationOptions { MaxNewTokens = 1, DoSample = false, StopTokenIds = [] };
        var misses = new List<double>();
        var hits = new List<double>();
        var cached = 0;
        for (var run = -1; run < settings.Runs; run++)
        {
            model.PrefixCache.Clear();
            var miss = await RuntimeBenchmark.MeasureOnceAsync(model, generator, Prompt(2 * (run + 1)), options, cancellationToken).ConfigureAwait(false);
            var hit = await RuntimeBenchmark.MeasureOnceAsync(model, generator, Prompt((2 * (run + 1)) + 1), options, cancellationToken).ConfigureAwait(false);
            if (run >= 0)
            {
                misses.Add(miss.PrefillSeconds * 1000);
                hits.Add(hit.PrefillSeconds * 1000);
                cached = hit.CachedPromptTokens;
            }
        }

        return new PrefixCacheFigures(length, cached, Figure.Of(misses), Figure.Of(hits));
    }

    private static async Task<BareLoopFigures> MeasureBareLoopAsync(OnnxModel model, int promptTokens, SuiteSettings settings, CancellationToken cancellationToken)
    {
        var prompt = RuntimeBenchmark.BenchmarkPrompt(model.Config.VocabSize, promptTokens);
        var generator = new Generator(model);
        var options = new GenerationOptions { MaxNewTokens = settings.GeneratedTokens, DoSample = false, StopTokenIds = [] };
        var steps = settings.GeneratedTokens - 1;
        var generated = new List<double>();
        var bare = new List<double>();
        for (var run = -1; run < settings.Runs; run++)
        {
            // Whichever runs second finds the machine as the first left it; swapping the order each round evens that out.
            var bareFirst = run % 2 != 0;
            var floor = bareFirst ? BareDecodeLoop.TokensPerSecond(model, prompt, steps) : 0;
            model.PrefixCache.Clear();
            var sample = await RuntimeBenchmark.MeasureOnceAsync(model, generator, prompt, options, cancellationToken).ConfigureAwait(false);
            if (!bareFirst)
            {
                floor = BareDecodeLoop.TokensPerSecond(model, prompt, steps);
            }

            if (run >= 0)
            {
                generated.Add(steps / sample.DecodeSeconds);
                bare.Add(floor);
            }
        }

        return new BareLoopFigures(promptTokens, Figure.Of(generated), Figure.Of(bare), Figure.Of(generated.Select((g, i) => g / bare[i])));
    }

    private static async Task<Figure> MeasureDecodeAsync(string folder, RuntimeOptions options, int promptTokens, SuiteSettings settings, ILogger? logger, CancellationToken cancellationToken)
    {
        using var model = OnnxModel.Load(folder, options, logger);
        var result = await RuntimeBenchmark.RunAsync(model, promptTokens, settings.GeneratedTokens, settings.Runs, cancellationToken).ConfigureAwait(false);
        return result.Decode;
    }

    private static RuntimeOptions With(RuntimeOptions source, Action<RuntimeOptions> change)
    {
        var copy = source.Copy();
        change(copy);
        return copy;
    }
}
