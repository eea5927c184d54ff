using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Api;

/// <summary>
/// The contract's defaults for properties a client left out. The source-generated serializer sets every init-only
/// property, so an absent one arrives as null or 0 instead of the record's initializer; this puts the documented
/// default back. (An explicit JSON null is refused by the serializer already, so null here means "absent".)
/// </summary>
internal static class RequestDefaults
{
    public static EnrollRequest Apply(EnrollRequest request) => request with { Hardware = Apply(request.Hardware ?? new HardwareInfo()) };

    public static ReportedState Apply(ReportedState state) => state with
    {
        Adapters = state.Adapters ?? [],
        Health = state.Health ?? "ok",
        Errors = state.Errors ?? [],
    };

    public static DesiredStateUpdate Apply(DesiredStateUpdate update) => update with { Adapters = update.Adapters ?? [] };

    /// <summary>Uses and lifetime default only when absent: an explicit 0 stays 0 (and is refused by validation).</summary>
    public static CreateTokenRequest Apply(CreateTokenRequest request, ReadOnlySpan<byte> json) => request with
    {
        Uses = HasProperty(json, "uses") ? request.Uses : 1,
        ExpiresInSeconds = HasProperty(json, "expires_in_seconds") ? request.ExpiresInSeconds : 86_400,
        Tags = request.Tags ?? [],
    };

    private static HardwareInfo Apply(HardwareInfo hardware) => hardware with { Accelerators = hardware.Accelerators ?? [] };

    /// <summary>Whether the top-level object of (already validated) JSON has this property.</summary>
    private static bool HasProperty(ReadOnlySpan<byte> json, string name)
    {
        var reader = new Utf8JsonReader(json);
        var wanted = Encoding.UTF8.GetBytes(name);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals(wanted))
            {
                return true;
            }

            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= 1)
            {
                reader.Skip();
            }
        }

        return false;
    }
}
