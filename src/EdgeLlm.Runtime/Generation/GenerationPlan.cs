using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Generation;

/// <summary><see cref="GenerationOptions"/> checked and resolved against a model's genai_config.json.</summary>
internal sealed class GenerationPlan
{
    private readonly int[] _stopIds;
    private readonly Func<int, bool>? _stopWhen;

    private GenerationPlan(int[] prompt, int maxNewTokens, SamplingSettings sampling, int[] stopIds, GenerationOptions options)
    {
        Prompt = prompt;
        MaxNewTokens = maxNewTokens;
        Sampling = sampling;
        _stopIds = stopIds;
        _stopWhen = options.StopWhen;
        IncludeLogProbabilities = options.IncludeLogProbabilities;
        LogitsObserver = options.LogitsObserver;
    }

    /// <summary>The prompt after the overflow policy.</summary>
    public int[] Prompt { get; }

    /// <summary>Tokens to generate at most; the context always has room for them.</summary>
    public int MaxNewTokens { get; }

    /// <summary>Tokens the sequence's cache must hold: the prompt and every generated token but the last, which is never fed back.</summary>
    public int Capacity => Prompt.Length + MaxNewTokens - 1;

    public SamplingSettings Sampling { get; }

    public bool IncludeLogProbabilities { get; }

    public LogitsObserver? LogitsObserver { get; }

    public bool IsStop(int token) => Array.IndexOf(_stopIds, token) >= 0 || (_stopWhen?.Invoke(token) ?? false);

    public static GenerationPlan Create(GenAiConfig config, IReadOnlyList<int> prompt, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        if (prompt.Count == 0)
        {
            throw new ArgumentException("The prompt has no tokens; generation needs at least one.", nameof(prompt));
        }

        for (var i = 0; i < prompt.Count; i++)
        {
            if ((uint)prompt[i] >= (uint)config.VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(prompt), prompt[i],
                    $"Prompt token {i} is id {prompt[i]}, outside the model's vocabulary (0..{config.VocabSize - 1}); was it encoded with this model's tokenizer?");
            }
        }

        if (options.MaxNewTokens is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxNewTokens, "MaxNewTokens must be at least 1.");
        }

        var search = config.Search;
        var sampling = new SamplingSettings(
            options.DoSample ?? search.DoSample,
            (float)Check(options.Temperature ?? search.Temperature, nameof(options.Temperature), t => t >= 0, "must be 0 (greedy) or more"),
            (int)Check(options.TopK ?? search.TopK, nameof(options.TopK), k => k >= 0, "must be 0 (all tokens) or more"),
            (float)Check(options.TopP ?? search.TopP, nameof(options.TopP), p => p > 0 && p <= 1, "must be more than 0 and at most 1"),
            (float)Check(options.RepetitionPenalty ?? search.RepetitionPenalty, nameof(options.RepetitionPenalty), r => r > 0, "must be more than 0 (1 is off)"),
            options.Seed ?? (ulong)Random.Shared.NextInt64());

        var context = config.ContextLength;
        var tokens = prompt.ToArray();
        if (tokens.Length >= context)
        {
            if (options.PromptOverflow == PromptOverflowPolicy.Error)
            {
                throw new PromptTooLongException(tokens.Length, context);
            }

            tokens = TruncateLeft(tokens, context - Math.Clamp(options.MaxNewTokens ?? (context / 4), 1, Math.Max(1, context / 2)), config.BosTokenId);
        }

        // search.max_length bounds prompt + output, as in onnxruntime-genai; an explicit MaxNewTokens replaces it.
        var maxNew = options.MaxNewTokens ?? (search.MaxLength > tokens.Length ? search.MaxLength - tokens.Length : context - tokens.Length);
        maxNew = Math.Min(maxNew, context - tokens.Length);

        var stopIds = (options.StopTokenIds ?? config.EosTokenIds).ToArray();
        return new GenerationPlan(tokens, maxNew, sampling, stopIds, options);
    }

    /// <summary>The newest <paramref name="keep"/> tokens; a leading BOS token stays in front, since the model was trained to see it first.</summary>
    private static int[] TruncateLeft(int[] tokens, int keep, int? bos) =>
        bos is { } b && tokens[0] == b && keep > 1
            ? [b, .. tokens[^(keep - 1)..]]
            : tokens[^keep..];

    private static double Check(double value, string name, Func<double, bool> valid, string rule) =>
        !double.IsNaN(value) && valid(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} is {value}; it {rule}.");
}
