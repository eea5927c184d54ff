using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>Rollout settings, in the <c>Fleet</c> section beside the other fleet options.</summary>
internal sealed class RolloutOptions
{
    /// <summary>How often the background loop evaluates running rollouts, in seconds. Default 10.</summary>
    [Range(1, 3600)]
    public int RolloutStepSeconds { get; set; } = 10;
}

[OptionsValidator]
internal sealed partial class RolloutOptionsValidator : IValidateOptions<RolloutOptions>;
