using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Fleet;

/// <summary>Which devices a rollout covers: exactly one of all, a tag, or a list of ids.</summary>
public sealed record RolloutTarget
{
    public bool All { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Tag { get; init; }

    public IReadOnlyList<string> Devices { get; set; } = [];
}

/// <summary>POST /rollouts.</summary>
public sealed record CreateRolloutRequest
{
    /// <summary>The bundle name (a registered <c>model</c> bundle).</summary>
    public required string Bundle { get; init; }

    /// <summary>The version; or give <see cref="Channel"/> instead (resolved once, at creation).</summary>
    public string? Version { get; init; }

    public string? Channel { get; init; }

    public required RolloutTarget Target { get; init; }

    /// <summary>Cumulative percentages of the target, increasing, the last 100 (e.g. 5, 25, 100).</summary>
    public IReadOnlyList<int> Stages { get; set; } = [100];

    /// <summary>The minimum time a stage runs before the next starts.</summary>
    public long SoakSeconds { get; init; }

    /// <summary>The share (0 to 1) of a stage's devices that may fail or roll back; more halts the rollout.</summary>
    public double MaxFailureRate { get; init; } = 0.2;
}

/// <summary>One stage of a rollout with its counts (cumulative: stage 2 holds the devices of stage 1 too).</summary>
public sealed record RolloutStage
{
    public int Percent { get; init; }

    public int Devices { get; init; }

    public int Succeeded { get; init; }

    public int Failed { get; init; }

    public int Pending { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? StartedAt { get; init; }
}

/// <summary>One device of a rollout.</summary>
public sealed record RolloutDevice
{
    public required string DeviceId { get; init; }

    /// <summary>The first stage (0-based) that includes it.</summary>
    public int Stage { get; init; }

    /// <summary>One of <see cref="RolloutDeviceStates"/>.</summary>
    public required string State { get; init; }

    /// <summary>The model its desired state named before the rollout set it (null: none).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ArtifactRef? PreviousModel { get; init; }

    /// <summary>The reported state that decided a failure (e.g. <c>rolled_back: smoke test failed</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Detail { get; init; }
}

/// <summary>A rollout in full.</summary>
public sealed record RolloutInfo
{
    public required string Id { get; init; }

    /// <summary>The bundle, with its SHA-256: what each device's desired model becomes.</summary>
    public required ArtifactRef Bundle { get; init; }

    /// <summary>The channel the version was resolved from, if any.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Channel { get; init; }

    public required RolloutTarget Target { get; init; }

    /// <summary>One of <see cref="RolloutStates"/>.</summary>
    public required string State { get; init; }

    /// <summary>Why it halted, was aborted or rolled back.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Reason { get; init; }

    /// <summary>The stage running now (0-based).</summary>
    public int CurrentStage { get; init; }

    public long SoakSeconds { get; init; }

    public double MaxFailureRate { get; init; }

    public IReadOnlyList<RolloutStage> Stages { get; set; } = [];

    /// <summary>Every device of the target, in stage order (the deterministic order of the rollout).</summary>
    public IReadOnlyList<RolloutDevice> Devices { get; set; } = [];

    public DateTimeOffset CreatedAt { get; init; }

    public required string CreatedBy { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>A rollout in the list.</summary>
public sealed record RolloutSummary
{
    public required string Id { get; init; }

    public required ArtifactRef Bundle { get; init; }

    public required string State { get; init; }

    public int CurrentStage { get; init; }

    public int StageCount { get; init; }

    public int Devices { get; init; }

    public int Succeeded { get; init; }

    public int Failed { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }
}
