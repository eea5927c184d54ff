using System.Text.Json;
using System.Text.RegularExpressions;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Api;

/// <summary>Field rules the JSON shape cannot state. Each returns null when fine, else the 400 message naming the field.</summary>
internal static partial class Validation
{
    private const int MaxText = 256;
    private const int MaxTags = 32;
    private const int MaxErrorText = 2000;

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex DeviceIdPattern();

    public static bool IsDeviceId(string? id) => id is not null && DeviceIdPattern().IsMatch(id);

    public static string? DeviceId(string? id) =>
        IsDeviceId(id) ? null : "device_id must be 1 to 64 characters of letters, digits, '.', '_' and '-'";

    public static string? Enroll(EnrollRequest request) =>
        DeviceId(request.DeviceId)
        ?? (request.Token.Length is 0 or > Auth.Secrets.MaxLength ? "token must be an enrollment token (eet_…)" : null)
        ?? Hardware(request.Hardware);

    public static string? Hardware(HardwareInfo? hardware) =>
        hardware is null ? "hardware must be an object"
        : hardware.CpuCount < 0 || hardware.MemoryBytes < 0 || hardware.DiskBytes < 0 ? "hardware counts must not be negative"
        : Text("hardware.arch", hardware.Arch) ?? Text("hardware.os", hardware.Os) ?? Text("hardware.agent_version", hardware.AgentVersion)
          ?? List("hardware.accelerators", hardware.Accelerators, MaxTags, MaxText);

    public static string? Telemetry(TelemetryBatch batch)
    {
        if (batch.Items is null)
        {
            return "items must be an array";
        }

        for (var i = 0; i < batch.Items.Count; i++)
        {
            var item = batch.Items[i];
            var problem = item is null ? "must be an object"
                : item.Seq < 0 ? "seq must not be negative"
                : item.Kind is not (TelemetryKinds.Metric or TelemetryKinds.Event or TelemetryKinds.Query) ? "kind must be metric, event or query"
                : item.Name.Length is 0 or > MaxText ? $"name must be 1 to {MaxText} characters"
                : item.Value is { } v && !double.IsFinite(v) ? "value must be a finite number"
                : null;
            if (problem is not null)
            {
                return $"items[{i}]: {problem}";
            }
        }

        return null;
    }

    public static string? Reported(ReportedState state) =>
        state.AppliedRevision < 0 ? "applied_revision must not be negative"
        : state.Health is not ("ok" or "degraded" or "error") ? "health must be ok, degraded or error"
        : Artifact("model", state.Model) ?? Artifacts("adapters", state.Adapters) ?? Artifact("config_bundle", state.ConfigBundle)
          ?? Text("agent_version", state.AgentVersion) ?? Text("state", state.State)
          ?? List("errors", state.Errors, int.MaxValue, MaxErrorText);

    public static string? Desired(DesiredStateUpdate update) =>
        Artifact("model", update.Model) ?? Artifacts("adapters", update.Adapters) ?? Artifact("config_bundle", update.ConfigBundle)
        ?? (update.Config is { } config && config.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null)
            ? "config must be a JSON object" : null);

    public static string? Token(CreateTokenRequest request) =>
        request.Uses is < 1 or > 1_000_000 ? "uses must be between 1 and 1000000"
        : request.ExpiresInSeconds is < 1 or > 366L * 86_400 ? "expires_in_seconds must be between 1 and 31622400 (366 days)"
        : List("tags", request.Tags, MaxTags, 64, allowEmpty: false);

    public static string? Key(CreateApiKeyRequest request) =>
        request.Name.Length is 0 or > 64 ? "name must be 1 to 64 characters"
        : FleetRoles.Rank(request.Role) == 0 ? "role must be viewer, operator or admin"
        : null;

    private static string? Artifacts(string field, IReadOnlyList<ArtifactRef>? artifacts)
    {
        if (artifacts is null)
        {
            return $"{field} must be an array";
        }

        if (artifacts.Count > MaxTags)
        {
            return $"{field} may hold at most {MaxTags} entries";
        }

        for (var i = 0; i < artifacts.Count; i++)
        {
            if (artifacts[i] is null)
            {
                return $"{field}[{i}] must be an object";
            }

            if (Artifact($"{field}[{i}]", artifacts[i]) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private static string? Artifact(string field, ArtifactRef? artifact) =>
        artifact is null ? null
        : artifact.Name.Length is 0 or > MaxText || artifact.Version.Length is 0 or > MaxText
            ? $"{field}: name and version must be 1 to {MaxText} characters"
        : Text($"{field}.sha256", artifact.Sha256);

    private static string? Text(string field, string? value) =>
        value is { Length: > MaxText } ? $"{field} must be at most {MaxText} characters" : null;

    private static string? List(string field, IReadOnlyList<string>? values, int maxCount, int maxLength, bool allowEmpty = true)
    {
        if (values is null)
        {
            return $"{field} must be an array of strings";
        }

        if (values.Count > maxCount)
        {
            return $"{field} may hold at most {maxCount} entries";
        }

        for (var i = 0; i < values.Count; i++)
        {
            if (values[i] is not { } value || value.Length > maxLength || (!allowEmpty && value.Length == 0))
            {
                return $"{field}[{i}] must be a string of {(allowEmpty ? 0 : 1)} to {maxLength} characters";
            }
        }

        return null;
    }
}
