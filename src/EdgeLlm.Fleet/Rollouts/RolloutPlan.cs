using System.Security.Cryptography;
using System.Text;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>
/// The deterministic part of a rollout: the order of its devices (SHA-256 of rollout id and device id, then the id) and
/// the cumulative stage sizes, so a device in an early stage is in every later one and a re-evaluation picks the same.
/// </summary>
internal static class RolloutPlan
{
    /// <summary>The device ids in rollout order.</summary>
    public static IReadOnlyList<string> Order(string rolloutId, IEnumerable<string> deviceIds) =>
        [.. deviceIds.OrderBy(d => Rank(rolloutId, d), StringComparer.Ordinal).ThenBy(d => d, StringComparer.Ordinal)];

    /// <summary>How many devices each stage holds (cumulative, rounded up so a 5 % stage of a small fleet has one).</summary>
    public static IReadOnlyList<int> StageSizes(int devices, IReadOnlyList<int> percents) =>
        [.. percents.Select(p => (int)((((long)devices * p) + 99) / 100))];

    /// <summary>A new rollout (not started: no stage has a start time) over <paramref name="deviceIds"/>.</summary>
    public static RolloutInfo Create(string id, ArtifactRef bundle, string? channel, CreateRolloutRequest request, IEnumerable<string> deviceIds, DateTimeOffset now, string actor)
    {
        var ordered = Order(id, deviceIds);
        var sizes = StageSizes(ordered.Count, request.Stages);
        return new RolloutInfo
        {
            Id = id,
            Bundle = bundle,
            Channel = channel,
            Target = request.Target,
            State = RolloutStates.Running,
            SoakSeconds = request.SoakSeconds,
            MaxFailureRate = request.MaxFailureRate,
            Stages = [.. request.Stages.Select((p, i) => new RolloutStage { Percent = p, Devices = sizes[i], Pending = sizes[i] })],
            Devices = [.. ordered.Select((d, rank) => new RolloutDevice { DeviceId = d, Stage = FirstStage(sizes, rank), State = RolloutDeviceStates.Waiting })],
            CreatedAt = now,
            CreatedBy = actor,
            UpdatedAt = now,
        };
    }

    /// <summary>The stages' counts recomputed from the devices' states.</summary>
    public static IReadOnlyList<RolloutStage> Count(RolloutInfo rollout) =>
    [
        .. rollout.Stages.Select((stage, i) =>
        {
            var members = rollout.Devices.Where(d => d.Stage <= i).ToList();
            var succeeded = members.Count(d => d.State == RolloutDeviceStates.Succeeded);
            var failed = members.Count(d => d.State == RolloutDeviceStates.Failed);
            return stage with { Devices = members.Count, Succeeded = succeeded, Failed = failed, Pending = members.Count - succeeded - failed };
        }),
    ];

    public static string Describe(ArtifactRef bundle) => $"{bundle.Name}@{bundle.Version}";

    private static int FirstStage(IReadOnlyList<int> sizes, int rank)
    {
        for (var i = 0; i < sizes.Count; i++)
        {
            if (rank < sizes[i])
            {
                return i;
            }
        }

        return sizes.Count - 1;
    }

    private static string Rank(string rolloutId, string deviceId) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(rolloutId + "\n" + deviceId)));
}
