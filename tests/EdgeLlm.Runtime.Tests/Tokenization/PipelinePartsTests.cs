using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Runtime.Tests.Tokenization;

public sealed class PipelinePartsTests
{
    [Theory]
    [InlineData("Removed", new[] { "the", "final", "countdown" })]
    [InlineData("Isolated", new[] { "the", "-", "final", "-", "-", "countdown" })]
    [InlineData("MergedWithPrevious", new[] { "the-", "final-", "-", "countdown" })]
    [InlineData("MergedWithNext", new[] { "the", "-final", "-", "-countdown" })]
    [InlineData("Contiguous", new[] { "the", "-", "final", "--", "countdown" })]
    public void Split_Behaviors_MatchHuggingFace(string behavior, string[] expected)
    {
        var output = new List<string>();

        SplitPreTokenizer.SplitBy(TokenPattern.FromTrustedRegex("-"), Enum.Parse<SplitBehavior>(behavior), invert: false, "the-final--countdown", output);

        Assert.Equal(expected, output);
    }

    [Fact]
    public void Metaspace_ReplacesSpacesPrependsAndSplitsBeforeEachWord()
    {
        var metaspace = new MetaspacePreTokenizer("▁", PrependScheme.First, split: true);

        Assert.Equal(["▁Hey", "▁friend!", "▁", "▁ok"], metaspace.Apply(["Hey friend!  ok"], firstSection: true));
        Assert.Equal(["be", "▁there"], metaspace.Apply(["be there"], firstSection: false));
    }

    [Fact]
    public void Pattern_TreatsCharactersBeyondTheBmpAsSingleCodePoints()
    {
        var letters = new List<(int, int)>();
        TokenPattern.FromTrustedRegex(@"\p{L}+").Matches("a𠀀b 𝟎", letters);
        var digits = new List<(int, int)>();
        TokenPattern.FromTrustedRegex(@"\p{N}").Matches("𝟎𝟏x", digits);

        Assert.Equal([(0, 4)], letters);
        Assert.Equal([(0, 2), (2, 2)], digits);
    }

    [Fact]
    public void Pattern_Phi4Regex_FoldsCaseOnlyInsideTheInlineGroup()
    {
        const string phi4 = @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        var output = new List<string>();

        SplitPreTokenizer.SplitBy(TokenPattern.FromTrustedRegex(phi4), SplitBehavior.Isolated, invert: false, "I'M here 12345", output);

        Assert.Equal(["I'M", " here", " ", "123", "45"], output);
    }

    [Theory]
    [InlineData("e\u0301", "\u00E9")]
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]
    [InlineData("\u1E0B\u0323", "\u1E0D\u0307")]
    [InlineData("\u0041\u030A\u0301", "\u01FA")]
    [InlineData("\u212B", "\u00C5")]
    [InlineData("plain ascii", "plain ascii")]
    public void Nfc_ComposesCanonically(string input, string expected) =>
        Assert.Equal(expected, UnicodeNormalization.Nfc(input));

    [Fact]
    public void Nfd_DecomposesCanonically()
    {
        Assert.Equal("e\u0301", UnicodeNormalization.Nfd("\u00E9"));
        Assert.Equal("\u1100\u1161\u11A8", UnicodeNormalization.Nfd("\uAC01"));
    }

    [Fact]
    public void CleanUp_RemovesSpacesBeforePunctuationLikeHuggingFace() =>
        Assert.Equal("Hello, world. It's ok'n't?", HfTokenizer.CleanUpTokenization("Hello , world . It 's ok ' n't ?"));
}
