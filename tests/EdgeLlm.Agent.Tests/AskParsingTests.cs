using System.Buffers;
using System.Text;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Scheduling;

namespace EdgeLlm.Agent.Tests;

public sealed class AskParsingTests
{
    private static readonly AgentOptions Options = new() { MaxPayloadBytes = 1024 };

    private static AskIntake.ParsedAsk Parse(string json, string? responseTopic = "r/5", byte[]? correlation = null) =>
        AskIntake.Parse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), responseTopic, correlation, Options, RequestPriority.Operator);

    [Fact]
    public void Valid_ask_keeps_every_field()
    {
        var p = Parse("""{"id":"a1","question":"Why?","mode":"manuals","max_tokens":7,"temperature":0.5,"stream":false,"history":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}],"unknown_extra":{"x":1}}""");
        Assert.Null(p.Error);
        var w = p.Work!;
        Assert.Equal("a1", w.Query.RequestId);
        Assert.Equal("Why?", w.Query.Question);
        Assert.Equal("manuals", w.Query.Mode);
        Assert.Equal(7, w.Query.MaxTokens);
        Assert.Equal(0.5, w.Query.Temperature);
        Assert.False(w.Stream);
        Assert.Equal(2, w.Query.History.Count);
        Assert.Equal("r/5", w.Reply.Topic);
    }

    [Fact]
    public void Ask_without_id_gets_a_fresh_one_and_defaults()
    {
        var a = Parse("""{"question":"q"}""").Work!;
        var b = Parse("""{"question":"q"}""").Work!;
        Assert.NotEqual(a.Query.RequestId, b.Query.RequestId);
        Assert.Equal(AskModes.Auto, a.Query.Mode);
        Assert.True(a.Stream);
    }

    [Fact]
    public void Mqtt5_response_topic_and_correlation_data_win_over_the_payload()
    {
        var data = new byte[] { 1, 2, 3 };
        var p = Parse("""{"question":"q","reply_to":"other/topic","correlation_id":"c"}""", "mine", data);
        Assert.Equal("mine", p.Reply!.Topic);
        Assert.Equal(data, p.Reply.CorrelationData);
        Assert.Null(p.Reply.CorrelationId);
    }

    [Fact]
    public void Payload_reply_to_serves_clients_without_a_response_topic()
    {
        var p = Parse("""{"question":"q","reply_to":"old/replies","correlation_id":"c9"}""", responseTopic: null);
        Assert.Equal(new ReplyAddress("old/replies", null, "c9"), p.Reply);
    }

    [Fact]
    public void Badly_typed_ask_still_finds_its_reply_address_and_id()
    {
        var p = Parse("""{"id":"bad1","question":["not","text"],"reply_to":"x/y","correlation_id":"k"}""", responseTopic: null);
        Assert.Equal(ErrorCodes.InvalidRequest, p.Error!.Code);
        Assert.Equal("bad1", p.Id);
        Assert.Equal("x/y", p.Reply!.Topic);
        Assert.Contains("question", p.Error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"question":"q","reply_to":"a/#"}""")]
    [InlineData("""{"question":"q","reply_to":"a/+/b"}""")]
    public void Wildcard_reply_to_is_refused(string json)
    {
        var p = Parse(json, responseTopic: null);
        Assert.NotNull(p.Error);
        Assert.Null(p.Work);
    }

    [Theory]
    [InlineData("edgellm/v1/dev1/status")]
    [InlineData("edgellm/v1/dev1/events")]
    [InlineData("edgellm/v1/dev1/alerts")]
    [InlineData("edgellm/v1/dev1/ask")]
    [InlineData("edgellm/v1/dev1/sensors/temp")]
    [InlineData("edgellm/v1/dev1/reply")]
    [InlineData("edgellm/v1/dev1/reply/")]
    [InlineData("edgellm/v1//reply/c")]
    [InlineData("$SYS/broker/log")]
    public void Replies_cannot_be_steered_into_the_agents_own_topics(string topic)
    {
        var viaPayload = Parse($$"""{"id":"s1","question":"q","reply_to":"{{topic}}"}""", responseTopic: null);
        var viaProperty = Parse("""{"id":"s2","question":"q"}""", responseTopic: topic);

        Assert.Null(viaPayload.Work);
        Assert.Null(viaPayload.Reply);
        Assert.Contains("not a reply topic", viaPayload.Error!.Message, StringComparison.Ordinal);
        Assert.Null(viaProperty.Work);
        Assert.Null(viaProperty.Reply);
        Assert.Contains("not a reply topic", viaProperty.Error!.Message, StringComparison.Ordinal);
        foreach (var (json, responseTopic) in new[] { ($$"""{"sensor":"t1","reply_to":"{{topic}}"}""", (string?)null), ("""{"sensor":"t1"}""", topic) })
        {
            var query = EdgeLlm.Agent.Sensors.SensorMqttIntake.Parse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), responseTopic, null, 1024);
            Assert.Null(query.Reply);
            Assert.Contains("not a reply topic", query.Error, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("edgellm/v1/dev1/reply/console-7")]
    [InlineData("edgellm/v1/dev1/reply/console-7/session/3")]
    [InlineData("plant/line2/console")]
    public void Reply_topics_under_reply_or_outside_the_root_are_served(string topic)
    {
        Assert.Equal(topic, Parse("""{"question":"q"}""", responseTopic: topic).Work!.Reply.Topic);
        Assert.Equal(topic, Parse($$"""{"question":"q","reply_to":"{{topic}}"}""", responseTopic: null).Work!.Reply.Topic);
    }

    [Fact]
    public void Ask_with_no_reply_address_is_refused_without_one()
    {
        var p = Parse("""{"question":"q"}""", responseTopic: null);
        Assert.Equal(ErrorCodes.InvalidRequest, p.Error!.Code);
        Assert.Null(p.Reply);
    }

    [Fact]
    public void Oversized_payload_is_refused_before_parsing_and_names_the_setting()
    {
        var p = Parse("{\"question\":\"" + new string('a', 2000) + "\"}");
        Assert.Equal(ErrorCodes.InvalidRequest, p.Error!.Code);
        Assert.Contains("Agent:MaxPayloadBytes", p.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deeply_nested_json_is_refused()
    {
        var p = Parse(new string('[', 100) + new string(']', 100));
        Assert.Equal(ErrorCodes.InvalidRequest, p.Error!.Code);
    }
}
