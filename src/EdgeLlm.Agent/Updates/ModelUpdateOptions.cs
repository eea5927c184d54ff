using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>The activation half of the <c>Updates</c> section (the download half is <see cref="UpdateOptions"/>): probation after the switch.</summary>
internal sealed class ModelUpdateOptions
{
    public const string Section = "Updates";

    /// <summary>
    /// Real answers the new model must give after the switch before it is committed; an <c>internal</c> error among
    /// them rolls it back. 0 commits at the switch. Default 5.
    /// </summary>
    [Range(0, 10_000)]
    public int ProbationAnswers { get; set; } = 5;
}

[OptionsValidator]
internal sealed partial class ModelUpdateOptionsValidator : IValidateOptions<ModelUpdateOptions>;
