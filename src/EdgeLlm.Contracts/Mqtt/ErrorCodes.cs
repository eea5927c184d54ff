namespace EdgeLlm.Contracts.Mqtt;

/// <summary>The <c>code</c> of an <see cref="ErrorMessage"/>.</summary>
public static class ErrorCodes
{
    /// <summary>The ask is not valid JSON, has a field of the wrong type, misses the question, or is too large.</summary>
    public const string InvalidRequest = "invalid_request";

    /// <summary>The question (with history and context) does not fit the model's context.</summary>
    public const string TooLong = "too_long";

    /// <summary>The queue is full; ask again later.</summary>
    public const string Busy = "busy";

    /// <summary>The sender may not ask this device.</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>No model is active and the question cannot be answered from retrieval alone.</summary>
    public const string ModelUnavailable = "model_unavailable";

    /// <summary>The answer took longer than the agent's per-request limit.</summary>
    public const string Timeout = "timeout";

    /// <summary>The request was cancelled (by a cancel message or the agent stopping).</summary>
    public const string Cancelled = "cancelled";

    /// <summary>An error inside the agent; the agent keeps serving.</summary>
    public const string Internal = "internal";
}
