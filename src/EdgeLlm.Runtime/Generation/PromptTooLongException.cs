namespace EdgeLlm.Runtime.Generation;

/// <summary>A prompt has more tokens than the model's context can hold (with room for one generated token).</summary>
public sealed class PromptTooLongException : Exception
{
    public PromptTooLongException(int promptTokens, int contextLength)
        : base($"The prompt has {promptTokens} tokens but the model's context holds {contextLength} (genai_config.json model.context_length), " +
            $"including at least one generated token; shorten the prompt or use {nameof(PromptOverflowPolicy)}.{nameof(PromptOverflowPolicy.TruncateLeft)}.")
    {
        PromptTokens = promptTokens;
        ContextLength = contextLength;
    }

    public int PromptTokens { get; }

    public int ContextLength { get; }
}
