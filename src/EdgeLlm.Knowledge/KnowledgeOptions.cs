using System.ComponentModel.DataAnnotations;

namespace EdgeLlm.Knowledge;

/// <summary>Settings of the manuals index (configuration section <c>Knowledge</c>).</summary>
public sealed class KnowledgeOptions
{
    /// <summary>Token budget of one chunk, measured with the active tokenizer. Default 256.</summary>
    [Range(32, 4096)]
    public int ChunkTokens { get; set; } = 256;

    /// <summary>Tokens of the previous chunk repeated at the start of the next one in the same section. Default 32.</summary>
    [Range(0, 512)]
    public int OverlapTokens { get; set; } = 32;

    /// <summary>Files larger than this are refused with a per-file error. Default 64 MiB.</summary>
    [Range(1, 4096)]
    public int MaxFileMegabytes { get; set; } = 64;

    /// <summary>
    /// Share (0–1) of the question's weight, by inverse document frequency, that the best passage must cover for
    /// the question to count as answerable; below it the answer is "not in the manuals". Default 0.5.
    /// </summary>
    [Range(0.0, 1.0)]
    public double RelevanceFloor { get; set; } = 0.5;

    internal long MaxFileBytes => MaxFileMegabytes * 1024L * 1024L;
}
