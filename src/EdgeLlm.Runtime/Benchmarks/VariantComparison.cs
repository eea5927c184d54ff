using System.Globalization;
using EdgeLlm.Runtime.Generation;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Runtime.Benchmarks;

/// <summary>A named set of runtime settings compared by <see cref="VariantComparison"/>.</summary>
/// <param name="Name">What the variant is called in the results.</param>
/// <param name="Settings">The settings as given (<see cref="VariantComparison.Parse"/>).</param>
/// <param name="Options">The runtime options the variant's model is loaded with.</param>
internal sealed record BenchmarkVariant(string Name, string Settings, RuntimeOptions Options);

/// <summary>One variant's figures, and its speed relative to the first variant run by run (above 1: faster).</summary>
internal sealed record VariantFigures(
    string Variant, string Settings, string Graph, Figure Prefill, Figure Decode, Figure FirstTokenMs, Figure PrefillVsFirst, Figure DecodeVsFirst);

internal sealed record ComparisonResult(string Model, int PromptTokens, int GeneratedTokens, int Runs, IReadOnlyList<VariantFigures> Variants);

/// <summary>
/// A/B (or A/B/C…) comparison of runtime settings in one process: every variant's model is loaded first, then the
/// variants take turns, one generation each per round, so that a change in the machine's load hits all of them alike.
/// The ratios are taken within each round (variant vs the first variant) before their median, which cancels slow
/// drifts of the load as well.
/// </summary>
internal static class VariantComparison
{
    private static readonly TimeSpan SettleTime = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Parses <c>NAME</c> or <c>NAME:KEY=VALUE,KEY=VALUE</c>. Keys: <c>chunk</c> (prefill chunk tokens, 0 = whole
    /// prompt), <c>rewrite</c> (on/off: last-position logits), <c>spinning</c> (on/off), <c>threads</c>,
    /// <c>opt</c> (disabled, basic, extended, all), or any ONNX Runtime session config key (it contains a dot, e.g.
    /// <c>session.dynamic_block_base=4</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The text is not a variant, or a key or value is unknown.</exception>
    public static BenchmarkVariant Parse(string text, RuntimeOptions baseline)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var name = (colon < 0 ? text : text[..colon]).Trim();
        var settings = colon < 0 ? "" : text[(colon + 1)..].Trim();
        if (name.Length == 0)
        {
            throw new ArgumentException($"--variant '{text}': give a name, as NAME or NAME:KEY=VALUE,...");
        }

        var options = baseline.Copy();
        foreach (var pair in settings.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == pair.Length - 1)
            {
                throw new ArgumentException($"--variant '{text}': '{pair}' is not KEY=VALUE");
            }

            Apply(options, pair[..eq], pair[(eq + 1)..], text);
        }

        return new BenchmarkVariant(name, settings, options);
    }

    public static async Task<ComparisonResult> RunAsync(string folder, IReadOnlyList<BenchmarkVariant> variants, int promptTokens, int generatedTokens, int runs,
        ILogger? logger = null, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(variants.Count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(promptTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(generatedTokens, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        var models = new List<OnnxModel>();
        try
        {
            foreach (var variant in variants)
            {
                progress?.Report($"loading {variant.Name} ({(variant.Settings.Length == 0 ? "defaults" : variant.Settings)})");
                models.Add(OnnxModel.Load(folder, variant.Options, logger));
            }

            if (promptTokens + generatedTokens > models[0].Config.ContextLength)
            {
                throw new ArgumentException($"--prompt-tokens + --gen-tokens ({promptTokens + generatedTokens}) exceed the model's context ({models[0].Config.ContextLength})");
            }

            var prompt = RuntimeBenchmark.BenchmarkPrompt(models[0].Config.VocabSize, promptTokens);
            var options = new GenerationOptions { MaxNewTokens = generatedTokens, DoSample = false, StopTokenIds = [] };
            var generators = models.Select(m => new Generator(m)).ToArray();
            var samples = variants.Select(_ => new List<RuntimeBenchmark.Sample>()).ToArray();
            for (var round = -1; round < runs; round++)
            {
                progress?.Report(round < 0 ? "warm-up round" : $"round {round + 1}/{runs}");
                for (var v = 0; v < models.Count; v++)
                {
                    // Every run prefills the whole prompt: the same prompt again would otherwise come from the prefix cache.
                    models[v].PrefixCache.Clear();

                    // Each session has its own intra-op threads, which spin for a while after a run: let the last
                    // variant's threads go to sleep before the next one starts, or they take a core from it.
                    await Task.Delay(SettleTime, cancellationToken).ConfigureAwait(false);
                    var sample = await RuntimeBenchmark.MeasureOnceAsync(models[v], generators[v], prompt, options, cancellationToken).ConfigureAwait(false);
                    if (round >= 0)
                    {
                        samples[v].Add(sample);
                    }
                }
            }

            var figures = new List<VariantFigures>();
            for (var v = 0; v < models.Count; v++)
            {
                var own = samples[v];
                var first = samples[0];
                figures.Add(new VariantFigures(
                    variants[v].Name,
                    variants[v].Settings,
                    models[v].Signature.LastPositionLogitsOnly ? "pruned" : "builder",
                    Figure.Of(own.Select(s => promptTokens / s.PrefillSeconds)),
                    Figure.Of(own.Select(s => (generatedTokens - 1) / s.DecodeSeconds)),
                    Figure.Of(own.Select(s => s.PrefillSeconds * 1000)),
                    Figure.Of(own.Select((s, i) => first[i].PrefillSeconds / s.PrefillSeconds)),
                    Figure.Of(own.Select((s, i) => first[i].DecodeSeconds / s.DecodeSeconds))));
            }

            return new ComparisonResult(folder, promptTokens, generatedTokens, runs, figures);
        }
        finally
        {
            foreach (var model in models)
            {
                model.Dispose();
            }
        }
    }

    private static void Apply(RuntimeOptions options, string key, string value, string text)
    {
        switch (key)
        {
            case "chunk":
                options.PrefillChunkTokens = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var chunk)
                    ? chunk
                    : throw new ArgumentException($"--variant '{text}': chunk '{value}' is not a whole number of tokens (0 = the whole prompt)");
                break;
            case "threads":
                options.IntraOpNumThreads = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var threads) && threads >= 1
                    ? threads
                    : throw new ArgumentException($"--variant '{text}': threads '{value}' is not a number of threads (1 or more)");
                break;
            case "rewrite":
                options.LastPositionLogitsOnly = OnOff(value, key, text);
                break;
            case "spinning":
                options.AllowSpinning = OnOff(value, key, text);
                break;
            case "opt":
                options.GraphOptimization = Enum.TryParse<GraphOptimization>(value, ignoreCase: true, out var level) && Enum.IsDefined(level)
                    ? level
                    : throw new ArgumentException($"--variant '{text}': opt '{value}' is not one of disabled, basic, extended, all");
                break;
            case var entry when entry.Contains('.', StringComparison.Ordinal):
                options.SessionConfigEntries[entry] = value;
                break;
            default:
                throw new ArgumentException($"--variant '{text}': unknown key '{key}' (chunk, threads, rewrite, spinning, opt, or an ONNX Runtime session config key such as session.dynamic_block_base)");
        }
    }

    private static bool OnOff(string value, string key, string text) => value switch
    {
        "on" => true,
        "off" => false,
        _ => throw new ArgumentException($"--variant '{text}': {key} '{value}' is not on or off"),
    };
}
