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
public sealed record KnowledgeDocument(long Id, string FileName, string Path, string Title, string Format, int Chunks, long Bytes, string Hash, DateTimeOffset IngestedAt)
{
    /// <summary>The set the document was installed with (a manuals bundle), or null for a file ingested on its own.</summary>
    public DocumentSource? Source { get; init; }

    /// <summary>The document's path inside its <see cref="Source"/> (<c>guides/pump.md</c>), or null.</summary>
    public string? SourcePath { get; init; }
}

/// <summary>
/// A named set of documents installed and replaced as a whole (see <see cref="KnowledgeBase.ReplaceSourceAsync"/>): a
/// manuals bundle's name and version, and <see cref="Digest"/>, a hash of its content that tells two sets of files under
/// the same version apart.
/// </summary>
public sealed record DocumentSource(string Name, string Version, string Digest);

/// <summary>
/// The outcome of <see cref="KnowledgeBase.ReplaceSourceAsync"/>. When <see cref="Error"/> is set nothing changed and
/// <see cref="Files"/> holds the files that could not be indexed; otherwise <see cref="Files"/> holds one result per
/// document of the new set (<see cref="IngestStatus.Unchanged"/> for a file whose content was already indexed).
/// </summary>
public sealed record ReplaceSourceResult(DocumentSource Source, IReadOnlyList<IngestFileResult> Files, IReadOnlyList<string> Removed, IReadOnlyList<string> Skipped)
{
    /// <summary>Why the set was not replaced, naming the files at fault; null on success.</summary>
    public string? Error { get; init; }

    public bool Replaced => Error is null;
}

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
