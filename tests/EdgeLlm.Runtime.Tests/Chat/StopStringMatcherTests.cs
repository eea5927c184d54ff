using EdgeLlm.Runtime.Chat;

namespace EdgeLlm.Runtime.Tests.Chat;

public sealed class StopStringMatcherTests
{
    [Fact]
    public void StopSplitAcrossChunks_IsNeverEmitted()
    {
        var m = new StopStringMatcher(["<|end|>"]);
        var emitted = m.Append("Hello <|") + m.Append("en") + m.Append("d|> ignored");
        Assert.Equal("Hello ", emitted);
        Assert.True(m.Stopped);
        Assert.Equal("<|end|>", m.MatchedStop);
        Assert.Equal("", m.Flush());
    }

    [Fact]
    public void PrefixThatDoesNotBecomeAStop_IsEmittedLater()
    {
        var m = new StopStringMatcher(["STOP"]);
        Assert.Equal("a ", m.Append("a ST"));
        Assert.Equal("STart", m.Append("art"));
        Assert.Equal("S", m.Append("S") + m.Flush());
        Assert.False(m.Stopped);
    }

    [Fact]
    public void EarliestOfSeveralStops_Wins()
    {
        var m = new StopStringMatcher(["\n\n", "User:"]);
        Assert.Equal("x", m.Append("xUser: a\n\n"));
        Assert.Equal("User:", m.MatchedStop);
    }

    [Fact]
    public void NoStops_PassesTextThrough()
    {
        var m = new StopStringMatcher([]);
        Assert.Equal("abc", m.Append("abc"));
        Assert.False(m.Stopped);
    }
}
