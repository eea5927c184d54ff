using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Runtime.Tests.Generation;

/// <summary>
/// The key/value cache must not change what the model computes: each step's logits from cached decoding equal
/// those of running the whole sequence again from scratch.
/// </summary>
[Collection(TinyModels.Name)]
public sealed class CachedDecodingTests(TinyModelFixture models)
{
    private const int Steps = 20;
    private const float Tolerance = 1e-4f;
    private static readonly int[] Prompt = [1, 17, 42, 99, 5, 300, 7, 640, 12];

    [Theory]
    [InlineData("fp32")]
    [InlineData("int4")]
    public async Task CachedLogits_EqualAFullRecompute_SharedBuffer(string quant)
    {
        var model = models.Model(quant);
        Assert.True(model.Config.Search.PastPresentShareBuffer);
        await AssertCachedEqualsRecompute(model);
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("int4")]
    public async Task CachedLogits_EqualAFullRecompute_GrowingCache(string quant)
    {
        var folder = models.CopyWithConfig(quant, c => c["search"]!["past_present_share_buffer"] = false);
        using var model = OnnxModel.Load(folder, TinyModelFixture.OneThread);
        Assert.False(model.Config.Search.PastPresentShareBuffer);
        await AssertCachedEqualsRecompute(model);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task ChunkedPrefill_GivesTheSameLogitsAsOneRun(int chunk)
    {
        var whole = await GreedyLogits(models.Model("fp32"));
        using var chunked = OnnxModel.Load(models.Folder("fp32"), new RuntimeOptions { IntraOpNumThreads = 1, PrefillChunkTokens = chunk });
        var byChunks = await GreedyLogits(chunked);
        Assert.Equal(whole.Tokens, byChunks.Tokens);
        for (var step = 0; step < whole.Logits.Count; step++)
        {
            AssertClose(whole.Logits[step], byChunks.Logits[step], step);
        }
    }

    private static async Task AssertCachedEqualsRecompute(OnnxModel model)
    {
        var (tokens, logits) = await GreedyLogits(model);
        Assert.Equal(Steps, tokens.Count);
        Assert.Equal(Steps, logits.Count);
        Assert.True(logits[0].Max() - logits[0].Min() > 1e-2f, "the logits are flat; the comparison would prove nothing");

        for (var step = 0; step < Steps; step++)
        {
            // Without a cache: the prompt and the tokens generated so far, all in one run on a fresh sequence.
            int[] sequence = [.. Prompt, .. tokens.Take(step)];
            using var fresh = model.CreateSequence(sequence.Length);
            var recomputed = fresh.Append(sequence).ToArray();
            AssertClose(recomputed, logits[step], step);
        }
    }

    private static async Task<(List<int> Tokens, List<float[]> Logits)> GreedyLogits(OnnxModel model)
    {
        var logits = new List<float[]>();
        var options = new GenerationOptions
        {
            MaxNewTokens = Steps,
            DoSample = false,
            StopTokenIds = [],
            LogitsObserver = (step, row) => logits.Add(row.ToArray()),
        };
        var tokens = new List<int>();
        await foreach (var token in new Generator(model).GenerateAsync(Prompt, options))
        {
            tokens.Add(token.Id);
        }

        return (tokens, logits);
    }

    private static void AssertClose(float[] expected, float[] actual, int step)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        Assert.True(worst <= Tolerance, $"step {step}: logits differ by up to {worst:E2} (tolerance {Tolerance:E0})");
    }
}
