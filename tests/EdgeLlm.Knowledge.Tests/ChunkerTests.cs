using EdgeLlm.Knowledge.Chunking;
using EdgeLlm.Knowledge.Documents;

namespace EdgeLlm.Knowledge.Tests;

public sealed class ChunkerTests
{
    private static readonly ITokenCounter Counter = EstimatingTokenCounter.Instance;

    private static string Sentences(string topic, int count) =>
        string.Join(' ', Enumerable.Range(1, count).Select(i => $"Sentence {i} explains the {topic} procedure in some detail."));

    [Fact]
    public void LongSection_IsSplitWithinBudget_WithOverlapAndTheSameHeadingPath()
    {
        var doc = MarkdownReader.Read($"# M\n\n## Long\n\n{Sentences("alignment", 12)}\n\n{Sentences("lubrication", 12)}\n\n{Sentences("inspection", 12)}\n", "m");
        var chunks = new Chunker(Counter, 64, 16).Chunk(doc);
        Assert.True(chunks.Count >= 3);
        Assert.All(chunks, c => Assert.InRange(Counter.CountTokens(c.Text), 1, 64 + 16));
        Assert.All(chunks, c => Assert.Equal(["M", "Long"], c.HeadingPath));
        // Overlap: each later chunk starts with the last sentence of the one before.
        for (var i = 1; i < chunks.Count; i++)
        {
            var lastSentence = chunks[i - 1].Text.Split(". ")[^1].TrimEnd('.');
            Assert.StartsWith(lastSentence, chunks[i].Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TablesAndCodeBlocks_StayWholeWhenTheyFit_AndNeverCrossAHeading()
    {
        var md = "# M\n\n## A\n\nIntro.\n\n| Part | Torque |\n|---|---|\n| M8 | 25 Nm |\n| M10 | 45 Nm |\n\n```\nG28\nG1 X10\n```\n\n## B\n\nOther.\n";
        var chunks = new Chunker(Counter, 256, 32).Chunk(MarkdownReader.Read(md, "m"));
        Assert.Equal(2, chunks.Count);
        Assert.Contains("| M8 | 25 Nm |\n| M10 | 45 Nm |", chunks[0].Text, StringComparison.Ordinal);
        Assert.Contains("G28\nG1 X10", chunks[0].Text, StringComparison.Ordinal);
        Assert.Equal("Other.", chunks[1].Text);
        Assert.NotEqual(chunks[0].Hash, chunks[1].Hash);
        Assert.True(chunks[0].Start < chunks[0].End && chunks[0].End <= chunks[1].Start);
    }

    [Fact]
    public void TableTooBigForOneChunk_IsSplitByRows_RepeatingTheHeader()
    {
        var rows = string.Join('\n', Enumerable.Range(1, 60).Select(i => $"| P-{i} | part number {i} description |"));
        var md = $"# M\n\n## Parts\n\n| Id | Description |\n|---|---|\n{rows}\n";
        var chunks = new Chunker(Counter, 64, 16).Chunk(MarkdownReader.Read(md, "m"));
        Assert.True(chunks.Count > 1);
        Assert.All(chunks, c => Assert.StartsWith("| Id | Description |\n|---|---|", c.Text, StringComparison.Ordinal));
        Assert.All(chunks, c => Assert.True(Counter.CountTokens(c.Text) <= 64));
    }

    [Fact]
    public void EstimatingCounter_CountsWordsDigitsAndPunctuation()
    {
        Assert.Equal(0, Counter.CountTokens(""));
        Assert.Equal(3, Counter.CountTokens("check the belt"));
        Assert.Equal(4, Counter.CountTokens("M104 S200"));
        Assert.Equal(3, new DelegateTokenCounter(t => t.Length).CountTokens("abc"));
    }
}
