using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Hosting;
using EdgeLlm.Fleet.Storage;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Api;

/// <summary>How a stored device looks to operators (API and dashboard alike), health included.</summary>
internal sealed class DeviceViews(TimeProvider time, IOptions<FleetOptions> options)
{
    public const string Unknown = "unknown";
    public const string Stale = "stale";

    public DeviceSummary Summary(DeviceRecord device) => new()
    {
        DeviceId = device.DeviceId,
        State = device.Revoked ? "revoked" : "active",
        Health = Health(device),
        LastSeen = device.LastSeen,
        EnrolledAt = device.EnrolledAt,
        ModelName = device.Reported?.Model?.Name,
        ModelVersion = device.Reported?.Model?.Version,
        AgentVersion = device.Reported?.AgentVersion ?? device.Hardware.AgentVersion,
        Tags = device.Tags,
    };

    /// <summary><c>stale</c> when not seen for <see cref="FleetOptions.StaleAfter"/>, else the reported health, <c>unknown</c> before any report.</summary>
    public string Health(DeviceRecord device)
    {
        if (device.LastSeen is { } seen && time.GetUtcNow() - seen > options.Value.StaleAfter)
        {
            return Stale;
        }

        return device.Reported?.Health ?? Unknown;
    }
}
