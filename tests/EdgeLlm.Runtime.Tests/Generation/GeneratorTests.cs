using System.Text.Json.Nodes;
using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Runtime.Tests.Generation;

[Collection(TinyModels.Name)]
public sealed class GeneratorTests(TinyModelFixture models)
{
    private static readonly int[] Prompt = [3, 141, 59, 265, 358, 979, 323, 846];

    private Generator Generator => new(models.Model("int4"));

    [Fact]
    public async Task Greedy_IsDeterministic()
    {
        var options = new GenerationOptions { MaxNewTokens = 12, DoSample = false, StopTokenIds = [] };
        var first = await Ids(Generator.GenerateAsync(Prompt, options));
        var second = await Ids(Generator.GenerateAsync(Prompt, options));
        Assert.Equal(12, first.Count);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task SeededSampling_IsReproducible_AndSeedsDiffer()
    {
        GenerationOptions Seeded(ulong seed) => new() { MaxNewTokens = 16, DoSample = true, TopK = 0, Temperature = 1.5, Seed = seed, StopTokenIds = [] };
        var a = await Ids(Generator.GenerateAsync(Prompt, Seeded(1)));
        var again = await Ids(Generator.GenerateAsync(Prompt, Seeded(1)));
        var b = await Ids(Generator.GenerateAsync(Prompt, Seeded(2)));
        Assert.Equal(a, again);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public async Task MaxNewTokens_EndsWithLength()
    {
        var items = await Collect(Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 5, StopTokenIds = [] }));
        Assert.Equal(5, items.Count);
        Assert.All(items.Take(4), t => Assert.Null(t.FinishReason));
        Assert.Equal(FinishReason.Length, items[^1].FinishReason);
        Assert.True(items[^1].HasToken);
    }

    [Fact]
    public async Task StopToken_EndsWithStopAtThatToken()
    {
        var (greedy, stopIndex) = await GreedyWithStopCandidate();
        var items = await Collect(Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 10, StopTokenIds = [greedy[stopIndex]] }));
        Assert.Equal(greedy.Take(stopIndex + 1), items.Select(t => t.Id));
        Assert.Equal(FinishReason.Stop, items[^1].FinishReason);
    }

    [Fact]
    public async Task EosIdsOfGenAiConfig_StopByDefault()
    {
        var (greedy, stopIndex) = await GreedyWithStopCandidate();
        var folder = models.CopyWithConfig("int4", c => c["model"]!["eos_token_id"] = new JsonArray(998, greedy[stopIndex]));
        using var model = OnnxModel.Load(folder, TinyModelFixture.OneThread);

        var items = await Collect(new Generator(model).GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 10 }));
        Assert.Equal(greedy.Take(stopIndex + 1), items.Select(t => t.Id));
        Assert.Equal(FinishReason.Stop, items[^1].FinishReason);
    }

    /// <summary>Ten greedy tokens and the index of the last one that first appears after the start, so stopping on it cuts the output short.</summary>
    private async Task<(List<int> Greedy, int StopIndex)> GreedyWithStopCandidate()
    {
        var greedy = await Ids(Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 10, StopTokenIds = [] }));
        return (greedy, Enumerable.Range(1, greedy.Count - 1).Last(i => greedy.IndexOf(greedy[i]) == i));
    }

    [Fact]
    public async Task StopWhen_EndsGenerationAfterThatToken()
    {
        var seen = 0;
        var items = await Collect(Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 10, StopTokenIds = [], StopWhen = _ => ++seen == 3 }));
        Assert.Equal(3, items.Count);
        Assert.Equal(FinishReason.Stop, items[^1].FinishReason);
    }

    [Fact]
    public void PromptLongerThanTheContext_IsRefusedWithBothNumbers()
    {
        var context = models.Model("int4").Config.ContextLength;
        var prompt = Enumerable.Range(0, context).Select(i => i % 500).ToArray();
        var ex = Assert.Throws<PromptTooLongException>(() => Generator.GenerateAsync(prompt));
        Assert.Equal(context, ex.PromptTokens);
        Assert.Equal(context, ex.ContextLength);
        Assert.Contains($"{context} tokens", ex.Message, StringComparison.Ordinal);
        Assert.Contains("context_length", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TruncateLeft_KeepsTheNewestTokensAndLeavesRoomForTheOutput()
    {
        var context = models.Model("int4").Config.ContextLength;
        var prompt = Enumerable.Range(0, context + 40).Select(i => (i * 37) % 1000).ToArray();
        var options = new GenerationOptions { MaxNewTokens = 8, StopTokenIds = [], PromptOverflow = PromptOverflowPolicy.TruncateLeft };

        var truncated = await Ids(Generator.GenerateAsync(prompt, options));
        var manual = await Ids(Generator.GenerateAsync(prompt[^(context - 8)..], options with { PromptOverflow = PromptOverflowPolicy.Error }));
        Assert.Equal(8, truncated.Count);
        Assert.Equal(manual, truncated);
    }

    [Fact]
    public async Task TruncateLeft_KeepsALeadingBosToken()
    {
        var config = models.Model("int4").Config;
        var bos = config.BosTokenId!.Value;
        var context = config.ContextLength;
        var prompt = Enumerable.Range(0, context + 10).Select(i => i == 0 ? bos : (i * 37) % 1000).ToArray();
        async Task<float[]> PrefillLogits(int[] tokens, PromptOverflowPolicy policy)
        {
            float[] logits = [];
            var options = new GenerationOptions
            {
                MaxNewTokens = 4,
                PromptOverflow = policy,
                LogitsObserver = (step, row) => logits = step == 0 ? row.ToArray() : logits,
            };
            await Collect(Generator.GenerateAsync(tokens, options));
            return logits;
        }

        var truncated = await PrefillLogits(prompt, PromptOverflowPolicy.TruncateLeft);
        Assert.Equal(await PrefillLogits([bos, .. prompt[^(context - 5)..]], PromptOverflowPolicy.Error), truncated);
        Assert.NotEqual(await PrefillLogits(prompt[^(context - 4)..], PromptOverflowPolicy.Error), truncated);
    }

    [Fact]
    public async Task TruncateLeft_WithoutMaxNewTokens_LeavesAQuarterOfTheContext()
    {
        var context = models.Model("int4").Config.ContextLength;
        var prompt = Enumerable.Range(0, context * 2).Select(i => 1 + ((i * 13) % 900)).ToArray();
        var items = await Collect(Generator.GenerateAsync(prompt, new GenerationOptions { StopTokenIds = [], PromptOverflow = PromptOverflowPolicy.TruncateLeft }));
        Assert.Equal(context / 4, items.Count);
        Assert.Equal(FinishReason.Length, items[^1].FinishReason);
    }

    [Fact]
    public async Task Output_StopsWhenTheContextIsFull()
    {
        var context = models.Model("int4").Config.ContextLength;
        var prompt = Enumerable.Range(0, context - 3).Select(i => i % 900).ToArray();
        var items = await Collect(Generator.GenerateAsync(prompt, new GenerationOptions { MaxNewTokens = 100, StopTokenIds = [] }));
        Assert.Equal(3, items.Count);
        Assert.Equal(FinishReason.Length, items[^1].FinishReason);
    }

    [Fact]
    public async Task Cancellation_BetweenTokens_StopsBeforeTheNextToken()
    {
        using var cts = new CancellationTokenSource();
        var items = new List<GeneratedToken>();
        var afterCancel = 0;
        await foreach (var token in Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 50, StopTokenIds = [] }, cts.Token))
        {
            items.Add(token);
            if (cts.IsCancellationRequested && token.HasToken)
            {
                afterCancel++;
            }

            if (items.Count == 3)
            {
                await cts.CancelAsync();
            }
        }

        Assert.Equal(0, afterCancel);
        Assert.Equal(4, items.Count);
        Assert.Equal(GeneratedToken.Cancelled, items[^1]);
    }

    [Fact]
    public async Task Cancellation_FromAnotherThreadDuringAStep_LetsAtMostThatTokenThrough()
    {
        using var cts = new CancellationTokenSource();
        var cancelledAtStep = -1;
        var options = new GenerationOptions
        {
            MaxNewTokens = 50,
            StopTokenIds = [],

            // Cancel from another thread while step 3 is being computed, after its run and before its sampling.
            LogitsObserver = (step, _) =>
            {
                if (step == 3)
                {
                    var canceller = new Thread(() => cts.Cancel());
                    canceller.Start();
                    canceller.Join();
                    cancelledAtStep = step;
                }
            },
        };

        var items = await Collect(Generator.GenerateAsync(Prompt, options, cts.Token));

        Assert.Equal(3, cancelledAtStep);
        var afterCancel = items.Skip(3).Count(t => t.HasToken);
        Assert.Equal(1, afterCancel);
        Assert.Equal(GeneratedToken.Cancelled, items[^1]);
    }

    [Fact]
    public async Task AlreadyCancelled_YieldsOnlyTheCancelledItem()
    {
        var items = await Collect(Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 5 }, new CancellationToken(true)));
        Assert.Equal([GeneratedToken.Cancelled], items);
    }

    [Fact]
    public async Task TerminateFlag_StopsARunInProgress()
    {
        using var cts = new CancellationTokenSource();
        using var sequence = models.Model("int4").CreateSequence(16);
        using var registration = sequence.TerminateOn(cts.Token);
        sequence.Append([1, 2, 3]);
        await cts.CancelAsync();
        Assert.Throws<OperationCanceledException>(() => sequence.Append([4]));
    }

    [Fact]
    public async Task LogProbabilities_AreReportedWhenAsked()
    {
        var items = await Collect(Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 3, IncludeLogProbabilities = true }));
        Assert.All(items, t => Assert.InRange(t.LogProbability!.Value, -50f, 0f));
        var plain = await Collect(Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 3 }));
        Assert.All(plain, t => Assert.Null(t.LogProbability));
    }

    [Fact]
    public void BadRequests_AreRefusedNamingTheProblem()
    {
        var vocab = models.Model("int4").Config.VocabSize;
        Assert.Contains("no tokens", Assert.Throws<ArgumentException>(() => Generator.GenerateAsync([])).Message, StringComparison.Ordinal);
        Assert.Contains("vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => Generator.GenerateAsync([1, vocab])).Message, StringComparison.Ordinal);
        Assert.Contains("TopP", Assert.Throws<ArgumentOutOfRangeException>(() => Generator.GenerateAsync(Prompt, new GenerationOptions { TopP = 0 })).Message, StringComparison.Ordinal);
        Assert.Contains("MaxNewTokens", Assert.Throws<ArgumentOutOfRangeException>(() => Generator.GenerateAsync(Prompt, new GenerationOptions { MaxNewTokens = 0 })).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => Generator.GenerateAsync(Prompt, new GenerationOptions { Temperature = -1 }));
    }

    [Fact]
    public async Task ConcurrentGenerations_OnOneModel_MatchSequentialOnes()
    {
        var options = new GenerationOptions { MaxNewTokens = 8, StopTokenIds = [] };
        int[][] prompts = [Prompt, [7, 8, 9], [400, 401, 402, 403, 404, 405]];
        var sequential = new List<List<int>>();
        foreach (var prompt in prompts)
        {
            sequential.Add(await Ids(Generator.GenerateAsync(prompt, options)));
        }

        var concurrent = await Task.WhenAll(prompts.Select(p => Task.Run(() => Ids(Generator.GenerateAsync(p, options)))));
        Assert.Equal(sequential, concurrent);
    }

    [Fact]
    public void DecodeStep_AllocatesLessThanFourKilobytes()
    {
        using var sequence = models.Model("int4").CreateSequence(64);
        sequence.Append(Prompt);
        sequence.Append([5]);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 20; i++)
        {
            sequence.Append([10 + i]);
        }

        var perToken = (GC.GetAllocatedBytesForCurrentThread() - before) / 20;
        Assert.True(perToken < 4096, $"{perToken} bytes allocated per decode step");
    }

    private static async Task<List<GeneratedToken>> Collect(IAsyncEnumerable<GeneratedToken> stream)
    {
        var items = new List<GeneratedToken>();
        await foreach (var token in stream)
        {
            items.Add(token);
        }

        return items;
    }

    private static async Task<List<int>> Ids(IAsyncEnumerable<GeneratedToken> stream) => (await Collect(stream)).Select(t => t.Id).ToList();
}
