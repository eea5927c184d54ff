namespace EdgeLlm.Knowledge;

/// <summary>What happened to one input of <see cref="KnowledgeBase.IngestAsync"/>.</summary>
public enum IngestStatus
{
    /// <summary>A new document was indexed.</summary>
    Added,

    /// <summary>A known document changed; only its changed chunks were replaced.</summary>
    Updated,

    /// <summary>The file's hash matches the indexed document; nothing was done.</summary>
    Unchanged,

    /// <summary>The file could not be ingested; <see cref="IngestFileResult.Error"/> says why. The index is as before.</summary>
    Failed,
}

/// <summary>The outcome for one file: chunk counts after ingestion, and how many chunks were added or removed.</summary>
public sealed record IngestFileResult(string Path, IngestStatus Status, long? DocumentId, int Chunks, int ChunksAdded, int ChunksRemoved, string? Error);

/// <summary>Progress of a batch: <paramref name="Done"/> of <paramref name="Total"/> files, the last one being <paramref name="Path"/>.</summary>
public sealed record IngestProgress(int Done, int Total, string Path);

/// <summary>An indexed document. <see cref="FileName"/> is the name it was ingested from.</summary>
public sealed record KnowledgeDocument(long Id, string FileName, string Path, string Title, string Format, int Chunks, long Bytes, string Hash, DateTimeOffset IngestedAt);

/// <summary>A retrieved passage with what a citation needs: document, heading path and page.</summary>
public sealed record Passage(long DocumentId, string Document, string Title, string Path, IReadOnlyList<string> HeadingPath, int? Page, double Score, string Text)
{
    /// <summary>The heading path joined with " > " (empty for a document without headings).</summary>
    public string Heading => string.Join(" > ", HeadingPath);

    /// <summary>A human-readable citation, e.g. <c>TMC_Drivers.md, "Sensorless Homing", p. 3</c>.</summary>
    public string Citation => Document
        + (HeadingPath.Count > 0 ? $", \"{HeadingPath[^1]}\"" : "")
        + (Page is { } p ? $", p. {p}" : "");
}

/// <summary>
/// The top passages for a question, best first. <see cref="Answerable"/> is false when even the best passage falls
/// below the relevance floor: the answer is "not in the manuals" (the passages are still returned for inspection).
/// </summary>
public sealed record SearchResults(IReadOnlyList<Passage> Passages, bool Answerable)
{
    /// <summary>Share (0–1) of the question's weight the best passage covers; compared with the relevance floor.</summary>
    public double Confidence { get; init; }
}
