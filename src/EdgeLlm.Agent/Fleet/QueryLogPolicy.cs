using EdgeLlm.Agent.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// Whether the (redacted) query log may leave the device. The rule: uploaded only when ALL of these allow it — the
/// device's own config (<c>Fleet:QueryLogUpload = true</c>), the fleet's desired state (<c>query_log_upload: true</c>,
/// the last one received, kept in agent.db across restarts; false until one arrives), and the local query log itself
/// (<c>Agent:QueryLog</c>). It is decided when an answer is logged: answers given while it was off never leave, and
/// withdrawing it deletes entries still queued.
/// </summary>
internal sealed class QueryLogPolicy(IOptions<AgentOptions> agent, IOptions<FleetOptions> fleet)
{
    private volatile bool _fleetAllows;

    public bool Local => fleet.Value.QueryLogUpload;

    public bool QueryLogKept => agent.Value.QueryLog;

    /// <summary>The fleet's half, from the desired state.</summary>
    public bool FleetAllows
    {
        get => _fleetAllows;
        set => _fleetAllows = value;
    }

    public bool Allowed => Local && QueryLogKept && _fleetAllows;
}
