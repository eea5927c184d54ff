using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using EdgeLlm.Knowledge.Documents;

namespace EdgeLlm.Knowledge.Chunking;

/// <summary>
/// Cuts a document into chunks along its structure: never across a heading, preferably at paragraph boundaries,
/// within a token budget; tables and code blocks stay whole when they fit (a table too big for one chunk is split
/// by rows, each part repeating the header). Consecutive chunks of one section overlap by a sentence or two.
/// </summary>
internal sealed partial class Chunker(ITokenCounter counter, int maxTokens, int overlapTokens)
{
    public List<Chunk> Chunk(ParsedDocument doc)
    {
        var chunks = new List<Chunk>();
        var i = 0;
        while (i < doc.Blocks.Count)
        {
            var path = doc.Blocks[i].HeadingPath;
            var j = i;
            while (j < doc.Blocks.Count && doc.Blocks[j].HeadingPath.SequenceEqual(path))
            {
                j++;
            }

            ChunkSection(doc.Blocks.Skip(i).Take(j - i).ToList(), path, chunks);
            i = j;
        }

        return chunks;
    }

    private void ChunkSection(List<DocumentBlock> blocks, IReadOnlyList<string> path, List<Chunk> chunks)
    {
        var pieces = blocks.SelectMany(Pieces).ToList();
        var current = new List<Piece>();
        var tokens = 0;
        foreach (var piece in pieces)
        {
            if (current.Count == 1 && current[0].IsOverlap && tokens + piece.Tokens > maxTokens)
            {
                // No room for the overlap next to a piece that fills the budget on its own.
                current.Clear();
                tokens = 0;
            }
            else if (current.Count > 0 && tokens + piece.Tokens > maxTokens)
            {
                chunks.Add(Build(path, current));
                var overlap = Overlap(current[^1]);
                current = overlap is null ? [] : [overlap];
                tokens = overlap?.Tokens ?? 0;
            }

            current.Add(piece);
            tokens += piece.Tokens;
        }

        if (current.Count > 0 && current.Any(p => !p.IsOverlap))
        {
            chunks.Add(Build(path, current));
        }
    }

    private static Chunk Build(IReadOnlyList<string> path, List<Piece> pieces)
    {
        var text = string.Join("\n\n", pieces.Select(p => p.Text));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(" / ", path) + "\n" + text)))[..32];
        return new Chunk(path, text, pieces[0].Page, pieces.Min(p => p.Start), pieces.Max(p => p.End), hash);
    }

    /// <summary>The last sentences of a prose piece, up to the overlap budget; tables and code do not overlap.</summary>
    private Piece? Overlap(Piece last)
    {
        if (overlapTokens <= 0 || last.Kind is BlockKind.Table or BlockKind.Code)
        {
            return null;
        }

        var sentences = SentenceBreak().Split(last.Text);
        var tail = new List<string>();
        var tokens = 0;
        for (var k = sentences.Length - 1; k >= 0; k--)
        {
            var t = counter.CountTokens(sentences[k]);
            if (tokens + t > overlapTokens)
            {
                break;
            }

            tail.Insert(0, sentences[k]);
            tokens += t;
        }

        return tail.Count == 0 ? null : last with { Text = string.Join(' ', tail), Tokens = tokens, IsOverlap = true };
    }

    private IEnumerable<Piece> Pieces(DocumentBlock block)
    {
        var tokens = counter.CountTokens(block.Text);
        if (tokens <= maxTokens)
        {
            yield return new Piece(block.Text, tokens, block.Kind, block.Page, block.Start, block.End, false);
            yield break;
        }

        var parts = block.Kind is BlockKind.Table or BlockKind.Code or BlockKind.List ? SplitLines(block) : SplitProse(block.Text);
        foreach (var part in parts)
        {
            yield return new Piece(part, counter.CountTokens(part), block.Kind, block.Page, block.Start, block.End, false);
        }
    }

    private IEnumerable<string> SplitLines(DocumentBlock block)
    {
        var lines = block.Text.Split('\n');
        // A table part repeats the header row (and the Markdown separator row) so it still reads as a table.
        var header = block.Kind == BlockKind.Table ? lines.Take(lines.Length > 1 && lines[1].Contains("---", StringComparison.Ordinal) ? 2 : 1).ToArray() : [];
        var headerTokens = header.Length == 0 ? 0 : counter.CountTokens(string.Join('\n', header));
        var sb = new List<string>(header);
        var tokens = headerTokens;
        foreach (var line in lines.Skip(header.Length))
        {
            var t = counter.CountTokens(line) + 1;
            if (sb.Count > header.Length && tokens + t > maxTokens)
            {
                yield return string.Join('\n', sb);
                sb = [.. header];
                tokens = headerTokens;
            }

            if (t > maxTokens)
            {
                foreach (var part in SplitProse(line))
                {
                    yield return part;
                }

                continue;
            }

            sb.Add(line);
            tokens += t;
        }

        if (sb.Count > header.Length)
        {
            yield return string.Join('\n', sb);
        }
    }

    private IEnumerable<string> SplitProse(string text) => Pack(SentenceBreak().Split(text).SelectMany(SplitWords), 0);

    /// <summary>A sentence longer than the budget (a run-on list, a URL dump) is cut at word boundaries.</summary>
    private IEnumerable<string> SplitWords(string sentence) =>
        counter.CountTokens(sentence) <= maxTokens ? [sentence] : Pack(sentence.Split(' '), 1);

    /// <summary>Joins pieces with spaces into runs within the budget (<paramref name="perPiece"/> tokens added for each joint).</summary>
    private IEnumerable<string> Pack(IEnumerable<string> pieces, int perPiece)
    {
        var current = new StringBuilder();
        var tokens = 0;
        foreach (var piece in pieces)
        {
            var t = counter.CountTokens(piece) + perPiece;
            if (current.Length > 0 && tokens + t > maxTokens)
            {
                yield return current.ToString();
                current.Clear();
                tokens = 0;
            }

            current.Append(current.Length > 0 ? " " : "").Append(piece);
            tokens += t;
        }

        if (current.Length > 0)
        {
            yield return current.ToString();
        }
    }

    [GeneratedRegex(@"(?<=[.!?])\s+(?=[\p{Lu}\p{N}\[(`""])")]
    private static partial Regex SentenceBreak();

    private sealed record Piece(string Text, int Tokens, BlockKind Kind, int? Page, int Start, int End, bool IsOverlap);
}
