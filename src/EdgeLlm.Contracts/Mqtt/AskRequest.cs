namespace EdgeLlm.Contracts.Mqtt;

/// <summary>A question to the device, published on <see cref="MqttTopics.Ask"/>.</summary>
public sealed record AskRequest
{
    /// <summary>The caller's id of this request, echoed in every reply. Default: the agent assigns one.</summary>
    public string? Id { get; init; }

    /// <summary>The question. Required, not blank.</summary>
    public string? Question { get; init; }

    /// <summary>One of <see cref="AskModes"/>. Default <c>auto</c>.</summary>
    public string? Mode { get; init; }

    /// <summary>Most tokens of the answer. Default: the agent's configured limit.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Sampling temperature; 0 is greedy. Default: the agent's configured temperature.</summary>
    public double? Temperature { get; init; }

    /// <summary>Stream <c>chunk</c> messages before the answer. Default true.</summary>
    public bool? Stream { get; init; }

    /// <summary>Earlier turns of the conversation, oldest first. Default none.</summary>
    public IReadOnlyList<HistoryTurn>? History { get; init; }

    /// <summary>Reply topic for MQTT 3.1.1 clients; an MQTT 5 response topic takes precedence.</summary>
    public string? ReplyTo { get; init; }

    /// <summary>Echoed in every reply for MQTT 3.1.1 clients; MQTT 5 correlation data takes precedence.</summary>
    public string? CorrelationId { get; init; }
}

/// <summary>One earlier turn of a conversation.</summary>
public sealed record HistoryTurn
{
    /// <summary><c>user</c> or <c>assistant</c>.</summary>
    public string? Role { get; init; }

    public string? Content { get; init; }
}

/// <summary>The values of <see cref="AskRequest.Mode"/>.</summary>
public static class AskModes
{
    /// <summary>Manuals and sensors as the question needs (the default).</summary>
    public const string Auto = "auto";

    /// <summary>Answer from the manuals only.</summary>
    public const string Manuals = "manuals";

    /// <summary>Answer from sensor readings only.</summary>
    public const string Sensors = "sensors";

    /// <summary>Plain chat with the model, no context.</summary>
    public const string Chat = "chat";

    public static IReadOnlyList<string> All { get; } = [Auto, Manuals, Sensors, Chat];
}

/// <summary>Stops a request, published on <see cref="MqttTopics.Cancel"/>.</summary>
public sealed record CancelRequest
{
    /// <summary>The id of the request to stop. Required.</summary>
    public string? Id { get; init; }
}
