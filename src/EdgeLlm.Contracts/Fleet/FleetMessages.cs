using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Fleet;

// Properties with a default are { get; set; }, not init: System.Text.Json's source generator assigns every init-only
// property in its object initializer (an absent one becomes null or 0), while a settable one is assigned only when the
// JSON has it, so the default below holds for a property a client leaves out.

/// <summary>Every error response body: <c>{"error": {"code", "message"}}</c>.</summary>
public sealed record FleetError
{
    public required FleetErrorBody Error { get; init; }

    public static FleetError Of(string code, string message) => new() { Error = new FleetErrorBody { Code = code, Message = message } };
}

public sealed record FleetErrorBody
{
    /// <summary>One of <see cref="FleetErrorCodes"/>.</summary>
    public required string Code { get; init; }

    public required string Message { get; init; }
}

/// <summary>What a device tells the server about itself when it enrolls.</summary>
public sealed record HardwareInfo
{
    /// <summary><c>arm64</c>, <c>x64</c>, …</summary>
    public string? Arch { get; init; }

    public int CpuCount { get; init; }

    public long MemoryBytes { get; init; }

    public long DiskBytes { get; init; }

    public string? Os { get; init; }

    public string? AgentVersion { get; init; }

    /// <summary>Accelerators found (<c>cuda</c>, <c>npu</c>, …).</summary>
    public IReadOnlyList<string> Accelerators { get; set; } = [];
}

/// <summary>POST /enroll.</summary>
public sealed record EnrollRequest
{
    /// <summary>The enrollment token an operator created.</summary>
    public required string Token { get; init; }

    /// <summary>The device's id: 1 to 64 characters of letters, digits, '.', '_', '-'.</summary>
    public required string DeviceId { get; init; }

    public HardwareInfo Hardware { get; set; } = new();
}

/// <summary>The device credential: shown once, kept by the server only as a hash.</summary>
public sealed record EnrollResponse
{
    public required string DeviceId { get; init; }

    public required string Credential { get; init; }

    /// <summary>Tags the token gave the device.</summary>
    public IReadOnlyList<string> Tags { get; set; } = [];
}

public sealed record CredentialResponse
{
    public required string Credential { get; init; }
}

/// <summary>One outbox item. <see cref="Seq"/> is the device's own, increasing, never reused.</summary>
public sealed record TelemetryItem
{
    /// <summary>Unique per device; the server keeps the first copy of each (device, seq) and ignores repeats.</summary>
    public required long Seq { get; init; }

    /// <summary>When it happened on the device.</summary>
    public required DateTimeOffset Ts { get; init; }

    /// <summary><c>metric</c>, <c>event</c> or <c>query</c> (a redacted query log entry, only when policy allows).</summary>
    public required string Kind { get; init; }

    /// <summary>The metric or event name, e.g. <c>tokens_per_s</c>, <c>model_loaded</c>.</summary>
    public required string Name { get; init; }

    /// <summary>A metric's value.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Value { get; init; }

    /// <summary>Further fields (an event's details, a metric's labels).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonElement? Data { get; init; }
}

/// <summary>Telemetry item kinds.</summary>
public static class TelemetryKinds
{
    public const string Metric = "metric";
    public const string Event = "event";
    public const string Query = "query";
}

/// <summary>POST /device/telemetry.</summary>
public sealed record TelemetryBatch
{
    public required IReadOnlyList<TelemetryItem> Items { get; init; }
}

/// <summary>The server has durably stored every item of the batch (new or already known).</summary>
public sealed record TelemetryAck
{
    /// <summary>Items stored now.</summary>
    public int Accepted { get; init; }

    /// <summary>Items the server already had (a retry).</summary>
    public int Duplicates { get; init; }
}

/// <summary>A model or adapter the device should run (or runs).</summary>
public sealed record ArtifactRef
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    /// <summary>The bundle's SHA-256, when it comes from the registry.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Sha256 { get; init; }
}

/// <summary>What an operator wants a device to run. Served with <c>ETag: "{Revision}"</c>.</summary>
public sealed record DesiredState
{
    /// <summary>Increases with every change; 0 when nothing was ever set.</summary>
    public long Revision { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ArtifactRef? Model { get; init; }

    public IReadOnlyList<ArtifactRef> Adapters { get; set; } = [];

    /// <summary>The config bundle (a signed overlay of the device's configuration file) the device should run, or null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ArtifactRef? ConfigBundle { get; init; }

    /// <summary>Configuration fragments (a JSON object of agent settings), or null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonElement? Config { get; init; }

    /// <summary>Whether the device may upload its (redacted) query log.</summary>
    public bool QueryLogUpload { get; init; }
}

/// <summary>PUT /devices/{id}/desired: the whole desired state (the server assigns the revision).</summary>
public sealed record DesiredStateUpdate
{
    public ArtifactRef? Model { get; init; }

    public IReadOnlyList<ArtifactRef> Adapters { get; set; } = [];

    public ArtifactRef? ConfigBundle { get; init; }

    public JsonElement? Config { get; init; }

    public bool QueryLogUpload { get; init; }
}

/// <summary>PUT /device/reported: what the device actually runs.</summary>
public sealed record ReportedState
{
    /// <summary>The desired revision the device has applied.</summary>
    public long AppliedRevision { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ArtifactRef? Model { get; init; }

    public IReadOnlyList<ArtifactRef> Adapters { get; set; } = [];

    /// <summary>The config bundle whose overlay the device's configuration loads (<c>config/active</c>), or null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ArtifactRef? ConfigBundle { get; init; }

    public string? AgentVersion { get; init; }

    /// <summary><c>ok</c>, <c>degraded</c> or <c>error</c>.</summary>
    public string Health { get; set; } = "ok";

    /// <summary>The agent's state (<c>ready</c>, <c>retrieval_only</c>, …).</summary>
    public string? State { get; init; }

    /// <summary>Recent errors, newest first (at most 10 are kept).</summary>
    public IReadOnlyList<string> Errors { get; set; } = [];
}

/// <summary>POST /tokens.</summary>
public sealed record CreateTokenRequest
{
    /// <summary>How many enrollments the token allows. Default 1.</summary>
    public int Uses { get; set; } = 1;

    /// <summary>Lifetime in seconds. Default 86400 (one day).</summary>
    public long ExpiresInSeconds { get; set; } = 86_400;

    /// <summary>Tags given to devices enrolled with it.</summary>
    public IReadOnlyList<string> Tags { get; set; } = [];
}

/// <summary>An enrollment token; <see cref="Token"/> is only present in the response that created it.</summary>
public sealed record EnrollmentToken
{
    public required string Id { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Token { get; init; }

    public int UsesLeft { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }

    public IReadOnlyList<string> Tags { get; set; } = [];

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A device in the operator's list.</summary>
public sealed record DeviceSummary
{
    public required string DeviceId { get; init; }

    /// <summary><c>active</c> or <c>revoked</c>.</summary>
    public required string State { get; init; }

    /// <summary>Reported health (<c>ok</c>, <c>degraded</c>, <c>error</c>), <c>unknown</c> before the first report, <c>stale</c> when not seen for a while.</summary>
    public required string Health { get; init; }

    public DateTimeOffset? LastSeen { get; init; }

    public DateTimeOffset EnrolledAt { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ModelName { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ModelVersion { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? AgentVersion { get; init; }

    public IReadOnlyList<string> Tags { get; set; } = [];
}

/// <summary>One device in full.</summary>
public sealed record DeviceDetail
{
    public required DeviceSummary Device { get; init; }

    public HardwareInfo Hardware { get; set; } = new();

    public required DesiredState Desired { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ReportedState? Reported { get; init; }

    /// <summary>The newest telemetry sequence number stored.</summary>
    public long LastSeq { get; init; }

    /// <summary>Telemetry items stored.</summary>
    public long TelemetryCount { get; init; }
}

/// <summary>POST /keys.</summary>
public sealed record CreateApiKeyRequest
{
    public required string Name { get; init; }

    /// <summary>One of <see cref="FleetRoles"/>.</summary>
    public required string Role { get; init; }
}

/// <summary>An operator API key; <see cref="Key"/> is only present in the response that created it.</summary>
public sealed record ApiKeyInfo
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    public required string Role { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Key { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public bool Revoked { get; init; }
}

/// <summary>One change made through the admin API.</summary>
public sealed record AuditEntry
{
    public long Id { get; init; }

    public DateTimeOffset At { get; init; }

    /// <summary>The API key's name (or <c>device:{id}</c>).</summary>
    public required string Actor { get; init; }

    /// <summary>e.g. <c>token.create</c>, <c>device.revoke</c>, <c>desired.set</c>, <c>key.create</c>.</summary>
    public required string Action { get; init; }

    public required string Target { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Detail { get; init; }
}
