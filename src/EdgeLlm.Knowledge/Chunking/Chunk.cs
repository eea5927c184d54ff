namespace EdgeLlm.Knowledge.Chunking;

/// <summary>
/// A retrievable passage: text under one heading path, with the page it starts on (PDF), the character span of the
/// source blocks it came from, and a hash of its heading path and text that re-ingestion compares.
/// </summary>
internal sealed record Chunk(IReadOnlyList<string> HeadingPath, string Text, int? Page, int Start, int End, string Hash);
