using System.ComponentModel.DataAnnotations;

namespace EdgeLlm.Runtime.Scheduling;

/// <summary>Limits of the request queue in front of a loaded model.</summary>
public sealed class SchedulerOptions
{
    /// <summary>Requests that may wait for a free slot; one more is refused as busy. Default 8.</summary>
    [Range(0, 10_000)]
    public int QueueCapacity { get; set; } = 8;

    /// <summary>Requests that run at once. Default 1: on a CPU, parallel sequences only share the same cores.</summary>
    [Range(1, 64)]
    public int MaxConcurrency { get; set; } = 1;
}
