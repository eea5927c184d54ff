using System.CommandLine;
using EdgeLlm.Runtime.Benchmarks;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm bench`: prefill and decode speed, time to first token, memory and runtime overhead of a model.</summary>
internal static class BenchCommand
{
    public static Command Build()
    {
        var loading = new ModelLoading();
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length in tokens.", DefaultValueFactory = _ => 512 };
        var genTokens = new Option<int>("--gen-tokens") { Description = "Tokens to generate (stop tokens are ignored).", DefaultValueFactory = _ => 128 };
        var runs = new Option<int>("--runs") { Description = "Measured runs after one warm-up; figures are medians.", DefaultValueFactory = _ => 3 };
        var json = CommonOptions.Json();
        var cmd = new Command("bench", "Benchmark a model folder on this device.") { promptTokens, genTokens, runs, json };
        loading.AddTo(cmd);
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            using var loggers = loading.Loggers(parse);
            using var model = loading.Load(parse, loggers);
            var result = await RuntimeBenchmark.RunAsync(model.Model, parse.GetValue(promptTokens), parse.GetValue(genTokens), parse.GetValue(runs), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(result);
                return 0;
            }

            const double MiB = 1024 * 1024;
            Console.WriteLine($"model            {result.Model} ({result.Provider}, {result.Threads} threads)");
            Console.WriteLine($"prompt           {result.PromptTokens} tokens, generated {result.GeneratedTokens}, {result.Runs} runs (medians)");
            Console.WriteLine($"prefill          {result.PrefillTokensPerSecond:F1} tokens/s");
            Console.WriteLine($"decode           {result.DecodeTokensPerSecond:F2} tokens/s");
            Console.WriteLine($"first token      {result.TimeToFirstTokenMs:F0} ms");
            Console.WriteLine($"peak RSS         {result.PeakRssBytes / MiB:F0} MiB (weights {result.WeightBytes / MiB:F0} MiB + KV cache {result.KvCacheBytes / MiB:F1} MiB)");
            Console.WriteLine($"allocated/token  {result.AllocatedBytesPerToken:F0} bytes");
            Console.WriteLine($"outside Run      {result.DecodeTimeOutsideRunShare:P2} of decode time");
            foreach (var (target, met) in result.Targets)
            {
                Console.WriteLine($"target           {target}: {(met ? "met" : "MISSED")}");
            }

            return 0;
        }));
        return cmd;
    }
}
