using System.CommandLine;
using EdgeLlm.Runtime.Benchmarks;
using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm bench`: prefill and decode speed, time to first token, memory and runtime overhead of a model.</summary>
internal static class BenchCommand
{
    public static Command Build()
    {
        var loading = new ModelLoading();
        var promptTokens = new Option<int[]>("--prompt-tokens")
        {
            Description = "Prompt length in tokens (default 512; with --suite, one or more lengths, default 128 512).",
            AllowMultipleArgumentsPerToken = true,
        };
        var genTokens = new Option<int>("--gen-tokens") { Description = "Tokens to generate (stop tokens are ignored).", DefaultValueFactory = _ => 128 };
        var runs = new Option<int>("--runs") { Description = "Measured runs after one warm-up; figures are medians (with min and max).", DefaultValueFactory = _ => 3 };
        var suite = new Option<bool>("--suite")
        {
            Description = "Issue 9's comparisons in one run: the builder's graph vs the pruned (last-position logits) graph for each prompt length, " +
                "prefix-cache hit vs miss (400-token prefix + 50-token question), the generator vs a bare Run loop, spinning on vs off.",
        };
        var rewrite = new Option<string>("--logits-rewrite") { Description = "on: prune the graph to last-position logits (default); off: the graph as it is.", DefaultValueFactory = _ => "on" };
        var spinning = new Option<string>("--spinning") { Description = "ONNX Runtime intra-op spinning: default (ONNX Runtime's), on or off.", DefaultValueFactory = _ => "default" };
        var variants = new Option<string[]>("--variant")
        {
            Description = "Compare runtime settings in one process, taking turns run by run: NAME or NAME:KEY=VALUE,... (repeatable; ratios are vs the first). " +
                "Keys: chunk, threads, rewrite (on/off), spinning (on/off), opt (disabled/basic/extended/all), or an ONNX Runtime session config key.",
        };
        var profile = new Option<string?>("--profile")
        {
            Description = "Write ONNX Runtime's operator profile (chrome://tracing JSON) to a file starting with this path; slows the runs down.",
        };
        var json = CommonOptions.Json();
        var cmd = new Command("bench", "Benchmark a model folder on this device.") { promptTokens, genTokens, runs, suite, rewrite, spinning, variants, profile, json };
        loading.AddTo(cmd);
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var options = loading.RuntimeOptions(parse);
            options.LastPositionLogitsOnly = OnOff(parse.GetValue(rewrite), "--logits-rewrite") ?? true;
            options.AllowSpinning = OnOff(parse.GetValue(spinning), "--spinning");
            options.ProfilePathPrefix = parse.GetValue(profile);
            var lengths = parse.GetValue(promptTokens) is { Length: > 0 } given ? given : parse.GetValue(suite) ? [128, 512] : [512];
            using var loggers = loading.Loggers(parse);
            var logger = loggers.CreateLogger("EdgeLlm.Runtime");
            var folder = parse.GetValue(loading.Model)!;

            if (parse.GetValue(suite))
            {
                var progress = new Progress<string>(step => Console.Error.WriteLine($"bench: {step}"));
                var result = await BenchmarkSuite.RunAsync(folder, options, new SuiteSettings(lengths, parse.GetValue(genTokens), parse.GetValue(runs)), logger, progress, ct)
                    .ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    CliOutput.WriteJson(result);
                }
                else
                {
                    WriteSuite(result);
                }

                return 0;
            }

            if (lengths.Length != 1)
            {
                throw new ArgumentException("--prompt-tokens: give one length, or use --suite to measure several");
            }

            if (parse.GetValue(variants) is { Length: > 0 } specs)
            {
                var progress = new Progress<string>(step => Console.Error.WriteLine($"bench: {step}"));
                var compared = await VariantComparison.RunAsync(folder, [.. specs.Select(v => VariantComparison.Parse(v, options))], lengths[0],
                    parse.GetValue(genTokens), parse.GetValue(runs), logger, progress, ct).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    CliOutput.WriteJson(compared);
                }
                else
                {
                    WriteComparison(compared);
                }

                return 0;
            }

            using var model = OnnxModel.Load(folder, options, logger);
            var single = await RuntimeBenchmark.RunAsync(model, lengths[0], parse.GetValue(genTokens), parse.GetValue(runs), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(single);
                return 0;
            }

            Console.WriteLine($"model            {single.Model} ({single.Provider}, {single.Threads} threads)");
            WriteResult(single);
            foreach (var (target, met) in single.Targets)
            {
                Console.WriteLine($"target           {target}: {(met ? "met" : "MISSED")}");
            }

            return 0;
        }));
        return cmd;
    }

    private static bool? OnOff(string? value, string option) => value switch
    {
        "on" => true,
        "off" => false,
        "default" when option == "--spinning" => null,
        _ => throw new ArgumentException($"{option}: '{value}' is not one of {(option == "--spinning" ? "default, " : "")}on, off"),
    };

    private static void WriteResult(BenchmarkResult result)
    {
        const double MiB = 1024 * 1024;
        Console.WriteLine($"prompt           {result.PromptTokens} tokens, generated {result.GeneratedTokens}, {result.Runs} runs (median [min–max])");
        Console.WriteLine($"graph            {(result.LastPositionLogitsOnly ? "last-position logits (pruned)" : "logits for every position")}");
        Console.WriteLine($"prefill          {Format(result.Prefill, "F1")} tokens/s");
        Console.WriteLine($"decode           {Format(result.Decode, "F2")} tokens/s");
        Console.WriteLine($"first token      {Format(result.FirstToken, "F0")} ms");
        Console.WriteLine($"peak RSS         {result.PeakRssBytes / MiB:F0} MiB (weights {result.WeightBytes / MiB:F0} MiB + KV cache {result.KvCacheBytes / MiB:F1} MiB)");
        Console.WriteLine($"allocated/token  {result.AllocatedBytesPerToken:F0} bytes");
        Console.WriteLine($"outside Run      {result.DecodeTimeOutsideRunShare:P2} of decode time");
    }

    private static void WriteSuite(SuiteResult result)
    {
        Console.WriteLine($"model            {result.Model} ({result.Threads} threads, {result.Runs} runs per figure)");
        foreach (var variant in result.Variants)
        {
            foreach (var run in variant.Results)
            {
                Console.WriteLine();
                Console.WriteLine($"[{variant.Variant}]");
                WriteResult(run);
            }
        }

        Console.WriteLine();
        var prefix = result.PrefixCache;
        Console.WriteLine($"prefix cache     {prefix.PromptTokens}-token prompt, {prefix.CachedTokens} cached: first token {Format(prefix.HitFirstTokenMs, "F0")} ms (hit) vs {Format(prefix.MissFirstTokenMs, "F0")} ms (miss)");
        Console.WriteLine($"bare Run loop    prompt {result.BareLoop.PromptTokens}: generator {Format(result.BareLoop.GeneratorDecode, "F2")} vs bare {Format(result.BareLoop.BareDecode, "F2")} tokens/s");
        Console.WriteLine($"spinning         prompt {result.Spinning.PromptTokens}: on {Format(result.Spinning.On, "F2")} vs off {Format(result.Spinning.Off, "F2")} tokens/s");
        foreach (var (name, ratio) in result.Ratios)
        {
            Console.WriteLine($"ratio            {name}: {ratio:F2}");
        }

        foreach (var (target, met) in result.Targets)
        {
            Console.WriteLine($"target           {target}: {(met ? "met" : "MISSED")}");
        }
    }

    private static void WriteComparison(ComparisonResult result)
    {
        Console.WriteLine($"model            {result.Model}: prompt {result.PromptTokens} tokens, generated {result.GeneratedTokens}, {result.Runs} rounds (median [min–max])");
        foreach (var v in result.Variants)
        {
            Console.WriteLine();
            Console.WriteLine($"[{v.Variant}] {(v.Settings.Length == 0 ? "defaults" : v.Settings)} ({v.Graph} graph)");
            Console.WriteLine($"prefill          {Format(v.Prefill, "F1")} tokens/s, {Format(v.PrefillVsFirst, "F3")}x the first");
            Console.WriteLine($"decode           {Format(v.Decode, "F2")} tokens/s, {Format(v.DecodeVsFirst, "F3")}x the first");
            Console.WriteLine($"first token      {Format(v.FirstTokenMs, "F0")} ms");
        }
    }

    private static string Format(Figure figure, string format) =>
        $"{figure.Median.ToString(format, System.Globalization.CultureInfo.InvariantCulture)} [{figure.Min.ToString(format, System.Globalization.CultureInfo.InvariantCulture)}–{figure.Max.ToString(format, System.Globalization.CultureInfo.InvariantCulture)}]";
}
