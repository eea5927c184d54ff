namespace EdgeLlm.Knowledge.Documents;

/// <summary>What a block of a document is; tables and code are kept whole by the chunker where they fit.</summary>
internal enum BlockKind
{
    Paragraph,
    List,
    Table,
    Code,
}

/// <summary>
/// One structural unit of a document: a paragraph, list, table or code block under its heading path.
/// <paramref name="Start"/>/<paramref name="End"/> are character offsets into the source text (Markdown, HTML, text)
/// or into the extracted text of the whole PDF.
/// </summary>
internal sealed record DocumentBlock(IReadOnlyList<string> HeadingPath, BlockKind Kind, string Text, int? Page, int Start, int End);

/// <summary>A document read into blocks, before chunking.</summary>
internal sealed record ParsedDocument(string Title, string Format, IReadOnlyList<DocumentBlock> Blocks);

/// <summary>A document that cannot be ingested; the message names the file and what to do.</summary>
public sealed class DocumentException(string message, Exception? inner = null) : Exception(message, inner);
