using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Knowledge;

/// <summary>The agent's side of the <c>Knowledge</c> section: how many manual passages a question gets and when they count.</summary>
internal sealed class ManualsOptions
{
    public const string Section = "Knowledge";

    /// <summary>Passages retrieved per question and offered to the model as [1], [2], …. Default 3.</summary>
    [Range(1, 20)]
    public int TopK { get; set; } = 3;

    /// <summary>
    /// Share (0–1) of the question's weight the best passage must cover; below it the answer is "not in the manuals".
    /// Default 0.5 (the knowledge base's own default).
    /// </summary>
    [Range(0.0, 1.0)]
    public double RelevanceFloor { get; set; } = 0.5;

    /// <summary>
    /// Passages scoring below this share (0–1) of the best passage's score are left out: they rarely help and cost
    /// prompt tokens. Default 0.25.
    /// </summary>
    [Range(0.0, 1.0)]
    public double MinScoreShare { get; set; } = 0.25;

    /// <summary>
    /// Most prompt tokens the passages may take, counted with the active model's tokenizer; never more than half the
    /// model's context, so the question and the answer keep room. Default 1024.
    /// </summary>
    [Range(64, 65_536)]
    public int ContextTokens { get; set; } = 1024;
}

[OptionsValidator]
internal sealed partial class ManualsOptionsValidator : IValidateOptions<ManualsOptions>;

/// <summary>The index's settings in the same section (chunk budget, file size limit), checked the way the CLI checks them.</summary>
[OptionsValidator]
internal sealed partial class KnowledgeOptionsValidator : IValidateOptions<EdgeLlm.Knowledge.KnowledgeOptions>;
