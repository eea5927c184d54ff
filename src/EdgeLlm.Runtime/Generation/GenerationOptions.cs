namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// Options of one generation. A null value takes the model's default from genai_config.json's <c>search</c>
/// section (and, failing that, Hugging Face's default).
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate. Default null: until <c>search.max_length</c> total tokens or the context is full.</summary>
    public int? MaxNewTokens { get; init; }

    /// <summary>True samples, false picks the most likely token (greedy). Default null: <c>search.do_sample</c> (false).</summary>
    public bool? DoSample { get; init; }

    /// <summary>Softmax temperature when sampling; 0 means greedy. Default null: <c>search.temperature</c> (1).</summary>
    public double? Temperature { get; init; }

    /// <summary>Sample among the K most likely tokens only; 0 means all. Default null: <c>search.top_k</c> (0).</summary>
    public int? TopK { get; init; }

    /// <summary>Sample among the most likely tokens whose probability adds up to P (nucleus); 1 means all. Default null: <c>search.top_p</c> (1).</summary>
    public double? TopP { get; init; }

    /// <summary>
    /// Hugging Face's repetition penalty over the prompt and output tokens: a seen token's positive logit is divided
    /// by it and a negative one multiplied; 1 is off. Default null: <c>search.repetition_penalty</c> (1).
    /// </summary>
    public double? RepetitionPenalty { get; init; }

    /// <summary>Seed of the sampler; the same seed, prompt and options give the same tokens. Default null: a random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Token ids that end generation (the stop token is the last one reported). Default null: the model's EOS ids.</summary>
    public IReadOnlyList<int>? StopTokenIds { get; init; }

    /// <summary>What to do with a prompt that does not fit the context. Default <see cref="PromptOverflowPolicy.Error"/>.</summary>
    public PromptOverflowPolicy PromptOverflow { get; init; } = PromptOverflowPolicy.Error;

    /// <summary>Report each token's log-probability under the model's distribution (before penalties and temperature). Default false.</summary>
    public bool IncludeLogProbabilities { get; init; }

    /// <summary>
    /// Called with each generated token id; returning true ends generation with <see cref="FinishReason.Stop"/>
    /// after that token. The text layer uses it for stop strings. Default null.
    /// </summary>
    public Func<int, bool>? StopWhen { get; init; }

    /// <summary>
    /// Name of a LoRA adapter loaded on the model (<see cref="OnnxModel.Adapters"/>) to apply to this generation only;
    /// generations running at the same time keep their own. Default null: the base model.
    /// </summary>
    public string? Adapter { get; init; }

    /// <summary>For tests: sees the raw logits of every step (step 0 is the prefill) before sampling.</summary>
    internal LogitsObserver? LogitsObserver { get; init; }
}

/// <summary>Receives the logits row of one generation step.</summary>
internal delegate void LogitsObserver(int step, ReadOnlySpan<float> logits);

/// <summary>What to do with a prompt that leaves no room in the model's context.</summary>
public enum PromptOverflowPolicy
{
    /// <summary>Refuse it with <see cref="PromptTooLongException"/>.</summary>
    Error,

    /// <summary>
    /// Drop the oldest tokens (but not a leading BOS token) so that the rest of the prompt leaves room for
    /// <see cref="GenerationOptions.MaxNewTokens"/> (a quarter of the context when that is not set), keeping at
    /// least half of the context for the prompt.
    /// </summary>
    TruncateLeft,
}

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>A stop token or <see cref="GenerationOptions.StopWhen"/>.</summary>
    Stop,

    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> or the context length was reached.</summary>
    Length,

    /// <summary>The caller's cancellation token was cancelled.</summary>
    Cancelled,
}

/// <summary>One item of a generation stream.</summary>
/// <param name="Id">The token id, or -1 on the final item of a cancelled generation, which carries no token.</param>
/// <param name="LogProbability">The token's log-probability when <see cref="GenerationOptions.IncludeLogProbabilities"/> is set.</param>
/// <param name="FinishReason">Set on the last item of the stream only.</param>
public readonly record struct GeneratedToken(int Id, float? LogProbability, FinishReason? FinishReason)
{
    /// <summary>The item that ends a cancelled generation.</summary>
    public static GeneratedToken Cancelled => new(-1, null, Generation.FinishReason.Cancelled);

    /// <summary>False only for the final item of a cancelled generation.</summary>
    public bool HasToken => Id >= 0;

    /// <summary>
    /// On the first token: how many prompt tokens were not run because their key/value state came from the prefix
    /// cache (<see cref="RuntimeOptions.PrefixCacheBytes"/>). 0 on every other item.
    /// </summary>
    public int CachedPromptTokens { get; init; }
}
