using System.Runtime.CompilerServices;

namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// The generation loop on a loaded model: one run for the prompt (prefill), then one run per token (decode) on a
/// key/value cache allocated once per generation. Thread-safe: each call gets its own sequence.
/// </summary>
internal sealed class Generator(OnnxModel model)
{
    private readonly OnnxModel _model = model ?? throw new ArgumentNullException(nameof(model));

    /// <summary>
    /// Generates tokens after <paramref name="prompt"/>. The options and the prompt length are checked now, so a
    /// bad request throws here rather than on the first item. The stream's last item carries the
    /// <see cref="FinishReason"/>; cancelling <paramref name="cancellationToken"/> ends it within one token with
    /// <see cref="GeneratedToken.Cancelled"/> (a run in progress is terminated) instead of an exception.
    /// </summary>
    /// <exception cref="PromptTooLongException">The prompt leaves no room in the context and the policy is <see cref="PromptOverflowPolicy.Error"/>.</exception>
    /// <exception cref="ArgumentException">The prompt is empty, has an id outside the vocabulary, an option is out of range, or the adapter is not loaded.</exception>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(IReadOnlyList<int> prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var plan = GenerationPlan.Create(_model.Config, prompt, options ?? new GenerationOptions());
        var adapter = _model.Adapters.Resolve(options?.Adapter);
        return RunAsync(plan, adapter, cancellationToken);
    }

    private async IAsyncEnumerable<GeneratedToken> RunAsync(GenerationPlan plan, Adapters.LoadedAdapter? adapter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Runs are synchronous and long: leave the caller's thread (a message handler, a console loop) at once.
        await Task.Yield();
        if (cancellationToken.IsCancellationRequested)
        {
            yield return GeneratedToken.Cancelled;
            yield break;
        }

        using var sequence = _model.CreateSequence(plan.Capacity, adapter);
        using var sampler = new TokenSampler(_model.Config.VocabSize, plan.Sampling);
        using var registration = sequence.TerminateOn(cancellationToken);
        sampler.Observe(plan.Prompt);

        var last = -1;
        var cachedPromptTokens = 0;
        for (var produced = 0; ; produced++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                yield return GeneratedToken.Cancelled;
                yield break;
            }

            if (!TryStep(sequence, sampler, plan, adapter, produced, last, ref cachedPromptTokens, out var token, out var logProbability))
            {
                yield return GeneratedToken.Cancelled;
                yield break;
            }

            FinishReason? finish = plan.IsStop(token) ? FinishReason.Stop
                : produced + 1 >= plan.MaxNewTokens ? FinishReason.Length
                : null;
            yield return new GeneratedToken(token, logProbability, finish) { CachedPromptTokens = produced == 0 ? cachedPromptTokens : 0 };
            if (finish is not null)
            {
                yield break;
            }

            sampler.Observe(token);
            last = token;
        }
    }

    /// <summary>Feeds the prompt (step 0) or the last token and picks the next one; false when cancelled.</summary>
    private bool TryStep(GenerationSequence sequence, TokenSampler sampler, GenerationPlan plan, Adapters.LoadedAdapter? adapter, int step, int last,
        ref int cachedPromptTokens, out int token, out float? logProbability)
    {
        ReadOnlySpan<float> logits;
        try
        {
            logits = step == 0 ? Prefill(sequence, plan.Prompt, adapter, out cachedPromptTokens) : sequence.Append(new ReadOnlySpan<int>(in last));
        }
        catch (OperationCanceledException)
        {
            token = -1;
            logProbability = null;
            return false;
        }

        plan.LogitsObserver?.Invoke(step, logits);
        token = sampler.Next(logits);
        logProbability = plan.IncludeLogProbabilities ? sampler.LogProbability(logits, token) : null;
        return true;
    }

    /// <summary>
    /// Runs the prompt, after the longest prefix the model's <see cref="PrefixCache"/> holds, in chunks of
    /// <see cref="RuntimeOptions.PrefillChunkTokens"/>; then caches the prompt's state for the next requests.
    /// </summary>
    private ReadOnlySpan<float> Prefill(GenerationSequence sequence, int[] prompt, Adapters.LoadedAdapter? adapter, out int cachedTokens)
    {
        var cache = _model.PrefixCache;
        cachedTokens = 0;
        if (cache.Find(prompt, adapter) is { } hit)
        {
            sequence.LoadPrefix(hit);
            cachedTokens = hit.Tokens;
        }

        var chunk = _model.Options.PrefillChunkTokens;
        if (chunk <= 0)
        {
            chunk = prompt.Length;
        }

        ReadOnlySpan<float> logits = default;
        for (var offset = cachedTokens; offset < prompt.Length; offset += chunk)
        {
            logits = sequence.Append(prompt.AsSpan(offset, Math.Min(chunk, prompt.Length - offset)));
        }

        // Copying the state out costs a few milliseconds per request, never anything per token.
        if (cache.ShouldAdd(prompt, adapter, sequence.StateBytes))
        {
            cache.Add(new PrefixEntry(prompt, adapter, sequence.ExportState()));
        }

        return logits;
    }
}
