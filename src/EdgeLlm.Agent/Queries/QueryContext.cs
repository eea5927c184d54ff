using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Scheduling;

namespace EdgeLlm.Agent.Queries;

/// <summary>A validated question on its way through the <see cref="QueryPipeline"/>.</summary>
internal sealed record QueryContext
{
    public required string RequestId { get; init; }

    public required string Question { get; init; }

    /// <summary>One of <see cref="AskModes"/>.</summary>
    public string Mode { get; init; } = AskModes.Auto;

    public IReadOnlyList<HistoryTurn> History { get; init; } = [];

    /// <summary>Most answer tokens the caller asked for, or null for the agent's default.</summary>
    public int? MaxTokens { get; init; }

    public double? Temperature { get; init; }

    public RequestPriority Priority { get; init; } = RequestPriority.Operator;
}

/// <summary>
/// Something that adds context to a question: manual passages, sensor readings. Implementations are registered in DI
/// (<c>services.AddSingleton&lt;IContextSource, …&gt;()</c>); the pipeline asks every one of them, in parallel, for
/// every question except <c>chat</c> mode, and each decides from <see cref="QueryContext.Mode"/> whether it applies.
/// </summary>
internal interface IContextSource
{
    Task<ContextContribution> GetAsync(QueryContext query, CancellationToken cancellationToken);
}

/// <summary>What one <see cref="IContextSource"/> adds to a question.</summary>
/// <param name="Passages">Text for the prompt, each already labelled the way the answer should cite it (e.g. "[1] …").</param>
/// <param name="Citations">The sources of <paramref name="Passages"/>, reported with the answer.</param>
/// <param name="Sensors">The sensor readings used, reported with the answer.</param>
internal sealed record ContextContribution(IReadOnlyList<string> Passages, IReadOnlyList<Citation> Citations, IReadOnlyList<SensorUse> Sensors)
{
    public static ContextContribution Empty { get; } = new([], [], []);

    public bool IsEmpty => Passages.Count == 0 && Citations.Count == 0 && Sensors.Count == 0;

    public static ContextContribution Combine(IEnumerable<ContextContribution> parts)
    {
        var list = parts.ToList();
        return new(list.SelectMany(p => p.Passages).ToList(), list.SelectMany(p => p.Citations).ToList(), list.SelectMany(p => p.Sensors).ToList());
    }
}

/// <summary>
/// Answers without a model (retrieval-only mode), e.g. with the best manual passages. Registered in DI by the piece
/// that can do it; with none registered, or when it returns null, the answer is <c>model_unavailable</c>.
/// </summary>
internal interface IRetrievalAnswerer
{
    Task<string?> AnswerAsync(QueryContext query, ContextContribution context, CancellationToken cancellationToken);
}

/// <summary>A question the pipeline refuses or cannot finish; <see cref="Code"/> is one of <see cref="ErrorCodes"/>.</summary>
internal sealed class QueryException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
