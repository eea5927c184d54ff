using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Mqtt;

/// <summary>A message on a reply topic: <see cref="ChunkMessage"/>s, then one <see cref="AnswerMessage"/> or <see cref="ErrorMessage"/>.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(ChunkMessage), "chunk")]
[JsonDerivedType(typeof(AnswerMessage), "answer")]
[JsonDerivedType(typeof(ErrorMessage), "error")]
public abstract record ReplyMessage
{
    /// <summary>The request's id.</summary>
    [JsonPropertyOrder(-2)]
    public required string Id { get; init; }

    /// <summary>The ask's <c>correlation_id</c>, for MQTT 3.1.1 clients; omitted when the ask had none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyOrder(-1)]
    public string? CorrelationId { get; init; }
}

/// <summary>A piece of a streamed answer; <see cref="Seq"/> counts from 0 without gaps.</summary>
public sealed record ChunkMessage : ReplyMessage
{
    public required int Seq { get; init; }

    public required string Text { get; init; }
}

/// <summary>The final answer of a request.</summary>
public sealed record AnswerMessage : ReplyMessage
{
    /// <summary>The whole answer (the concatenation of the chunks).</summary>
    public required string Text { get; init; }

    /// <summary>The manual passages the answer rests on; empty when none were used.</summary>
    public IReadOnlyList<Citation> Citations { get; init; } = [];

    /// <summary>The sensor readings the answer rests on; empty when none were used.</summary>
    public IReadOnlyList<SensorUse> Sensors { get; init; } = [];

    public required Usage Usage { get; init; }

    public required ModelRef Model { get; init; }

    /// <summary><c>stop</c>, <c>length</c>, or <c>retrieval</c> for an answer made of passages without a model.</summary>
    public required string FinishReason { get; init; }
}

/// <summary>The request failed; <see cref="Code"/> is one of <see cref="ErrorCodes"/>.</summary>
public sealed record ErrorMessage : ReplyMessage
{
    public required string Code { get; init; }

    public required string Message { get; init; }
}

/// <summary>A cited source passage.</summary>
public sealed record Citation
{
    /// <summary>The source (a manual's id or file name).</summary>
    public required string Source { get; init; }

    /// <summary>Where in the source: page, section or heading. Optional.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Location { get; init; }

    /// <summary>The source's title (a manual's first heading or file name). Optional.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Title { get; init; }

    /// <summary>The heading path of the passage, outermost first. Optional.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Heading { get; init; }

    /// <summary>The page (1-based) for paged sources such as PDF. Optional.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Page { get; init; }

    /// <summary>How well the passage matches the question, 0–1. Optional.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Score { get; init; }

    /// <summary>The passage's text, possibly shortened. Optional.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Text { get; init; }
}

/// <summary>A sensor reading an answer used.</summary>
public sealed record SensorUse
{
    public required string Id { get; init; }

    public required double Value { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Unit { get; init; }

    /// <summary>When it was read (ISO 8601).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Ts { get; init; }
}

/// <summary>Token counts and timings of an answer.</summary>
public sealed record Usage
{
    public int PromptTokens { get; init; }

    public int CompletionTokens { get; init; }

    /// <summary>From the model starting the request to its first token (queue wait excluded).</summary>
    public double TtftMs { get; init; }

    public double TokensPerS { get; init; }

    /// <summary>From the agent receiving the ask to the answer.</summary>
    public double TotalMs { get; init; }
}

/// <summary>The model that answered.</summary>
public sealed record ModelRef
{
    /// <summary>The model's id (its folder name), or <c>none</c> in retrieval-only mode.</summary>
    public required string Id { get; init; }

    /// <summary>The model's version (its slot's), <c>unversioned</c> for a folder outside the slots, or <c>synthesized</c> for random test weights outside them.</summary>
    public required string Version { get; init; }

    /// <summary>True for a synthesized model (random test weights: its answers are noise); absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Synthesized { get; init; }

    /// <summary>The LoRA adapter applied to the answer as <c>NAME@VERSION</c> (from an adapter bundle); absent without one.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Adapter { get; init; }
}

/// <summary>The device's retained status on <see cref="MqttTopics.Status"/>.</summary>
public sealed record StatusMessage
{
    /// <summary>One of <see cref="AgentStates"/>.</summary>
    public required string State { get; init; }

    /// <summary>The active model, or null in retrieval-only mode and when offline.</summary>
    public ModelRef? Model { get; init; }

    /// <summary>The execution provider running the model (cpu, an NPU or GPU plugin), or null.</summary>
    public string? Provider { get; init; }

    /// <summary>Requests waiting for the model.</summary>
    public int QueueDepth { get; init; }

    /// <summary>The agent's version.</summary>
    public required string Version { get; init; }

    /// <summary>When the agent entered this state (ISO 8601, UTC).</summary>
    public required string Since { get; init; }
}

/// <summary>The values of <see cref="StatusMessage.State"/>.</summary>
public static class AgentStates
{
    /// <summary>A model is loaded and questions are answered.</summary>
    public const string Ready = "ready";

    /// <summary>No model: answers come from retrieval alone (or <c>model_unavailable</c>).</summary>
    public const string RetrievalOnly = "retrieval_only";

    /// <summary>The agent is shutting down and takes no new questions.</summary>
    public const string Stopping = "stopping";

    /// <summary>The agent is gone (the broker publishes this last will).</summary>
    public const string Offline = "offline";
}
