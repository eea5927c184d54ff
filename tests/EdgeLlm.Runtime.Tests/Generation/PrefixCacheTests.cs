using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Providers;

namespace EdgeLlm.Runtime.Tests.Generation;

/// <summary>
/// A prompt that reuses a cached prefix's key/value state must compute what the whole prompt computes: the logits of
/// the prefill and of every decode step equal those of a model without the cache.
/// </summary>
[Collection(TinyModels.Name)]
public sealed class PrefixCacheTests(TinyModelFixture models)
{
    private const int Steps = 20;
    private const float Tolerance = 1e-4f;
    private static readonly int[] System = [.. Enumerable.Range(0, 40).Select(i => 1 + ((i * 31) % 700))];
    private static readonly int[] First = [.. System, 12, 99, 5, 300, 7];
    private static readonly int[] Second = [.. System, 640, 3, 88];

    private static RuntimeOptions WithCache(long bytes = 16 << 20, int chunk = 128) => new()
    {
        IntraOpNumThreads = 1,
        ProviderPolicy = ProviderPolicy.CpuOnly,
        PrefixCacheBytes = bytes,
        PrefixCacheMinTokens = 8,
        PrefillChunkTokens = chunk,
    };

    [Theory]
    [InlineData("fp32", true)]
    [InlineData("int4", true)]
    [InlineData("int4", false)]
    public async Task Logits_with_a_prefix_cache_hit_equal_those_without_the_cache(string quant, bool sharedBuffer)
    {
        var folder = sharedBuffer ? models.Folder(quant) : models.CopyWithConfig(quant, c => c["search"]!["past_present_share_buffer"] = false);
        using var cached = OnnxModel.Load(folder, WithCache(chunk: 16));
        using var plain = OnnxModel.Load(folder, TinyModelFixture.OneThread);

        var (_, _, missTokens) = await Greedy(cached, First);
        Assert.Equal(0, missTokens);
        Assert.Equal(1, cached.PrefixCache.Count);

        var (tokens, logits, hitTokens) = await Greedy(cached, Second);
        Assert.Equal(System.Length, hitTokens);
        var (expectedTokens, expectedLogits, _) = await Greedy(plain, Second);
        Assert.Equal(expectedTokens, tokens);
        Assert.Equal(Steps, logits.Count);
        for (var step = 0; step < Steps; step++)
        {
            AssertClose(expectedLogits[step], logits[step], step);
        }
    }

    [Fact]
    public async Task The_same_prompt_again_reuses_all_but_its_last_token()
    {
        using var model = OnnxModel.Load(models.Folder("fp32"), WithCache());
        var (expectedTokens, expectedLogits, _) = await Greedy(model, First);
        var (tokens, logits, hit) = await Greedy(model, First);
        Assert.Equal(First.Length - 1, hit);
        Assert.Equal(expectedTokens, tokens);
        AssertClose(expectedLogits[0], logits[0], 0);
        Assert.Equal(1, model.PrefixCache.Count);
    }

    [Fact]
    public async Task A_shared_prefix_shorter_than_the_minimum_is_not_reused()
    {
        using var model = OnnxModel.Load(models.Folder("fp32"), WithCache());
        await Greedy(model, [.. System[..6], 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var (_, _, hit) = await Greedy(model, [.. System[..6], 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        Assert.Equal(0, hit);
    }

    [Fact]
    public async Task Concurrent_generations_sharing_a_prefix_do_not_corrupt_each_other()
    {
        using var cached = OnnxModel.Load(models.Folder("int4"), WithCache(chunk: 8));
        using var plain = OnnxModel.Load(models.Folder("int4"), TinyModelFixture.OneThread);
        int[][] prompts = [.. Enumerable.Range(0, 6).Select(i => (int[])[.. System, 100 + i, 200 + (7 * i), 300 + i])];
        await Greedy(cached, First);

        var results = await Task.WhenAll(prompts.Select(p => Task.Run(() => Greedy(cached, p))));
        for (var i = 0; i < prompts.Length; i++)
        {
            var (expectedTokens, expectedLogits, _) = await Greedy(plain, prompts[i]);
            Assert.Equal(expectedTokens, results[i].Tokens);
            Assert.True(results[i].CachedTokens >= System.Length, $"prompt {i} reused {results[i].CachedTokens} tokens");
            for (var step = 0; step < Steps; step++)
            {
                AssertClose(expectedLogits[step], results[i].Logits[step], step);
            }
        }
    }

    [Fact]
    public async Task The_cache_stays_within_its_byte_bound_and_drops_the_least_recently_used_prompt()
    {
        var model = models.Model("fp32");
        var perPrompt = StateBytes(model, First.Length);
        using var bounded = OnnxModel.Load(models.Folder("fp32"), WithCache(bytes: (perPrompt * 2) + (perPrompt / 2)));
        int[] a = [.. First], b = [.. First.Select(t => t + 1)], c = [.. First.Select(t => t + 2)];

        await Greedy(bounded, a);
        await Greedy(bounded, b);
        Assert.Equal(2, bounded.PrefixCache.Count);
        Assert.Equal(a.Length - 1, (await Greedy(bounded, a)).CachedTokens);
        await Greedy(bounded, c);

        // a was used after b, so b is the one dropped to make room for c.
        Assert.Equal(2, bounded.PrefixCache.Count);
        Assert.True(bounded.PrefixCache.Bytes <= bounded.PrefixCache.MaxBytes);
        Assert.Equal(a.Length - 1, (await Greedy(bounded, a)).CachedTokens);
        Assert.Equal(c.Length - 1, (await Greedy(bounded, c)).CachedTokens);
        Assert.Equal(0, (await Greedy(bounded, b)).CachedTokens);
    }

    [Fact]
    public async Task A_text_completion_reports_the_prompt_tokens_served_from_the_cache()
    {
        using var model = LocalModel.Load(models.Folder("int4"), WithCache());
        var request = new TextRequest { PromptIds = First, Options = new GenerationOptions { MaxNewTokens = 3, StopTokenIds = [] } };
        var miss = await model.CompleteAsync(request);
        var hit = await model.CompleteAsync(request with { PromptIds = Second });
        Assert.Equal(0, miss.CachedPromptTokens);
        Assert.Equal(System.Length, hit.CachedPromptTokens);
        Assert.Equal(Second.Length, hit.PromptTokens);
    }

    [Fact]
    public void Entries_it_extends_are_replaced_and_entries_beyond_the_bound_are_not_stored()
    {
        var cache = new PrefixCache(maxBytes: 1000, minTokens: 2);
        cache.Add(new PrefixEntry([1, 2, 3], null, [new byte[300]]));
        cache.Add(new PrefixEntry([1, 2, 3, 4, 5], null, [new byte[500]]));
        Assert.Equal(1, cache.Count);
        Assert.Equal(500, cache.Bytes);
        Assert.False(cache.ShouldAdd([1, 2, 3], null, 300));
        Assert.True(cache.ShouldAdd([1, 2, 3], new object(), 300));
        Assert.False(cache.ShouldAdd([7, 8, 9], null, 1001));

        cache.Add(new PrefixEntry([7, 8], null, [new byte[1001]]));
        Assert.Equal(1, cache.Count);
        Assert.Equal(4, cache.Find([1, 2, 3, 4, 9], null)!.Value.Tokens);
        Assert.Null(cache.Find([1, 2, 3, 4, 9], new object()));
        Assert.Null(new PrefixCache(0, 2).Find([1, 2, 3], null));
    }

    private static long StateBytes(OnnxModel model, int tokens)
    {
        var d = model.Config.Decoder;
        return 2L * d.NumHiddenLayers * d.NumKeyValueHeads * d.HeadSize * sizeof(float) * tokens;
    }

    private static async Task<(List<int> Tokens, List<float[]> Logits, int CachedTokens)> Greedy(OnnxModel model, int[] prompt)
    {
        var logits = new List<float[]>();
        var options = new GenerationOptions { MaxNewTokens = Steps, DoSample = false, StopTokenIds = [], LogitsObserver = (_, row) => logits.Add(row.ToArray()) };
        var tokens = new List<int>();
        var cachedTokens = -1;
        await foreach (var token in new Generator(model).GenerateAsync(prompt, options))
        {
            cachedTokens = cachedTokens < 0 ? token.CachedPromptTokens : cachedTokens;
            tokens.Add(token.Id);
        }

        return (tokens, logits, cachedTokens);
    }

    private static void AssertClose(float[] expected, float[] actual, int step) => LogitsAssert.Close(expected, actual, Tolerance, $"step {step}");
}
