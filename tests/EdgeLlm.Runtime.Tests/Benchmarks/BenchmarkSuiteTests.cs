using EdgeLlm.Runtime.Benchmarks;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Providers;
using EdgeLlm.Runtime.Tests.Generation;

namespace EdgeLlm.Runtime.Tests.Benchmarks;

[Collection(TinyModels.Name)]
public sealed class BenchmarkSuiteTests(TinyModelFixture models)
{
    [Fact]
    public async Task Suite_measures_both_graph_forms_the_prefix_cache_the_bare_loop_and_spinning()
    {
        var options = new RuntimeOptions { IntraOpNumThreads = 1, ProviderPolicy = ProviderPolicy.CpuOnly };
        var result = await BenchmarkSuite.RunAsync(models.Folder("int4"), options, new SuiteSettings([16, 24], GeneratedTokens: 4, Runs: 2, SystemPromptTokens: 40, QuestionTokens: 8));

        Assert.Equal(["builder", "pruned"], result.Variants.Select(v => v.Variant));
        Assert.All(result.Variants[0].Results, r => Assert.False(r.LastPositionLogitsOnly));
        Assert.All(result.Variants[1].Results, r => Assert.True(r.LastPositionLogitsOnly));
        Assert.All(result.Variants.SelectMany(v => v.Results), r =>
        {
            Assert.Equal(2, r.Runs);
            Assert.InRange(r.Prefill.Median, r.Prefill.Min, r.Prefill.Max);
            Assert.InRange(r.Decode.Median, r.Decode.Min, r.Decode.Max);
        });
        Assert.Equal(new[] { 16, 24 }, result.Variants[1].Results.Select(r => r.PromptTokens));

        // The hit reuses exactly the shared prefix; the miss reused nothing (the cache was cleared before it).
        Assert.Equal(48, result.PrefixCache.PromptTokens);
        Assert.Equal(40, result.PrefixCache.CachedTokens);
        Assert.True(result.BareLoop.BareDecode.Median > 0);
        Assert.True(result.Spinning.On.Median > 0 && result.Spinning.Off.Median > 0);
        Assert.Equal(
            ["prefill_rewrite_vs_builder@16", "prefill_rewrite_vs_builder@24", "first_token_prefix_miss_vs_hit", "decode_generator_vs_bare_run", "decode_spinning_on_vs_off"],
            result.Ratios.Keys);
        Assert.All(result.Ratios.Values, r => Assert.True(double.IsFinite(r) && r > 0));
    }

    [Fact]
    public async Task Repeated_runs_of_one_prompt_each_prefill_the_whole_prompt()
    {
        using var model = OnnxModel.Load(models.Folder("fp32"), new RuntimeOptions { IntraOpNumThreads = 1, PrefixCacheMinTokens = 4, PrefillChunkTokens = 4 });
        var before = model.Runs;
        var result = await RuntimeBenchmark.RunAsync(model, promptTokens: 20, generatedTokens: 3, runs: 3);

        // Warm-up: the prompt's first 16 tokens in 4 chunks + 3 decode runs. Each measured run: 5 chunks + 2 decode runs;
        // a prefix-cache hit would have left a single chunk to run.
        Assert.Equal(7 + (3 * 7), model.Runs - before);
        Assert.Equal(3, result.Runs);
    }
}
