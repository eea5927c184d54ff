using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Fleet;

/// <summary>Source-generated JSON for the fleet API: snake_case, strict numbers, no trailing commas or comments.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(FleetError))]
[JsonSerializable(typeof(EnrollRequest))]
[JsonSerializable(typeof(EnrollResponse))]
[JsonSerializable(typeof(CredentialResponse))]
[JsonSerializable(typeof(TelemetryBatch))]
[JsonSerializable(typeof(TelemetryAck))]
[JsonSerializable(typeof(IReadOnlyList<TelemetryItem>))]
[JsonSerializable(typeof(DesiredState))]
[JsonSerializable(typeof(DesiredStateUpdate))]
[JsonSerializable(typeof(ReportedState))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(EnrollmentToken))]
[JsonSerializable(typeof(IReadOnlyList<EnrollmentToken>))]
[JsonSerializable(typeof(DeviceSummary))]
[JsonSerializable(typeof(IReadOnlyList<DeviceSummary>))]
[JsonSerializable(typeof(DeviceDetail))]
[JsonSerializable(typeof(CreateApiKeyRequest))]
[JsonSerializable(typeof(ApiKeyInfo))]
[JsonSerializable(typeof(IReadOnlyList<ApiKeyInfo>))]
[JsonSerializable(typeof(IReadOnlyList<AuditEntry>))]
[JsonSerializable(typeof(BundleInfo))]
[JsonSerializable(typeof(IReadOnlyList<BundleInfo>))]
[JsonSerializable(typeof(IReadOnlyList<BundleSummary>))]
[JsonSerializable(typeof(ChannelAssignment))]
[JsonSerializable(typeof(ChannelUpdate))]
[JsonSerializable(typeof(CreateRolloutRequest))]
[JsonSerializable(typeof(RolloutInfo))]
[JsonSerializable(typeof(IReadOnlyList<RolloutSummary>))]
public sealed partial class FleetJsonContext : JsonSerializerContext;
