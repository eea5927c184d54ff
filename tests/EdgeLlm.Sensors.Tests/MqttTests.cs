using System.Text;
using EdgeLlm.Sensors.Mqtt;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Sensors.Tests;

public sealed class MqttTests
{
    private static SensorOptions Options()
    {
        var options = new SensorOptions();
        options.Mqtt.Add(new MqttSensorSettings { Id = "line3_pressure", Topic = "plant/line3/+/pressure", JsonPath = "$.data.readings[1].v", Unit = "bar", PayloadUnit = "mbar", Scale = 0.001 });
        options.Mqtt.Add(new MqttSensorSettings { Id = "tank_level", Topic = "plant/tank/level", Unit = "%" });
        options.Mqtt.Add(new MqttSensorSettings { Id = "hall_temp", Topic = "building/#", Unit = "°C", Offset = -0.5 });
        return options;
    }

    private static (Gate Gate, MqttTopicSource Source) Create()
    {
        var gate = new Gate(Options());
        return (gate, new MqttTopicSource(Options().Mqtt, gate.Sink));
    }

    private static ReadOnlyMemory<byte> B(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("a/b/c", "a/b/c", true)]
    [InlineData("a/+/c", "a/x/c", true)]
    [InlineData("a/+/c", "a/x/y/c", false)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/b/c", true)]
    [InlineData("#", "anything/at/all", true)]
    [InlineData("+/b", "a/b", true)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b/c", "a/b", false)]
    [InlineData("+/+", "a", false)]
    [InlineData("#", "$SYS/broker", false)]
    public void TopicFilter_Matches_FollowsMqttWildcards(string filter, string topic, bool expected) =>
        Assert.Equal(expected, TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("a/+/c", true)]
    [InlineData("a/#", true)]
    [InlineData("a/#/c", false)]
    [InlineData("a/b+/c", false)]
    [InlineData("", false)]
    public void TopicFilter_IsValid_RejectsMisplacedWildcards(string filter, bool expected) => Assert.Equal(expected, TopicFilter.IsValid(filter));

    [Fact]
    public void Ingest_JsonPathMapping_ScalesTheSelectedNumber()
    {
        var (gate, source) = Create();
        var n = source.Ingest("plant/line3/gw7/pressure", B("""{"data":{"readings":[{"v":1},{"v":2450}]},"unit":"mbar"}"""), gate.Time.GetUtcNow());
        Assert.Equal(1, n);
        var r = Assert.Single(gate.Accepted);
        Assert.Equal(("line3_pressure", 2.45), (r.SensorId, r.Value));
        Assert.Equal(gate.Time.GetUtcNow(), r.Timestamp);
    }

    [Fact]
    public void Ingest_PlainNumberAndValueObject_BothAccepted()
    {
        var (gate, source) = Create();
        var now = gate.Time.GetUtcNow();
        source.Ingest("plant/tank/level", B(" 71.5\n"), now);
        source.Ingest("plant/tank/level", B("""{"value": "72.25", "ts": "2026-03-01T11:59:00Z", "unit": "%"}"""), now);
        source.Ingest("plant/tank/level", B($$"""{"value": 73, "ts": {{now.AddSeconds(-30).ToUnixTimeSeconds()}}}"""), now);
        source.Ingest("plant/tank/level", B($$"""{"value": 74, "ts": {{now.AddSeconds(-20).ToUnixTimeMilliseconds()}}}"""), now);
        Assert.Equal([71.5, 72.25, 73, 74], gate.Accepted.Select(r => r.Value));
        Assert.Equal([now, now.AddMinutes(-1), now.AddSeconds(-30), now.AddSeconds(-20)], gate.Accepted.Select(r => r.Timestamp));
    }

    [Fact]
    public void Ingest_WildcardMapping_AppliesOffsetToEveryMatchingTopic()
    {
        var (gate, source) = Create();
        source.Ingest("building/hall/east", B("21.5"), gate.Time.GetUtcNow());
        source.Ingest("building", B("20.5"), gate.Time.GetUtcNow());
        source.Ingest("buildings/hall", B("19"), gate.Time.GetUtcNow());
        Assert.Equal([21.0, 20.0], gate.Accepted.Select(r => r.Value));
    }

    [Theory]
    [InlineData("plant/tank/level", "hot", RejectReason.NotNumeric)]
    [InlineData("plant/tank/level", "{\"value\": \"hot\"}", RejectReason.NotNumeric)]
    [InlineData("plant/tank/level", "{\"level\": 3}", RejectReason.NotNumeric)]
    [InlineData("plant/tank/level", "{\"value\": 3", RejectReason.NotNumeric)]
    [InlineData("plant/tank/level", "NaN", RejectReason.NotFinite)]
    [InlineData("plant/tank/level", "-Infinity", RejectReason.NotFinite)]
    [InlineData("plant/tank/level", "{\"value\": \"Infinity\"}", RejectReason.NotFinite)]
    [InlineData("plant/tank/level", "{\"value\": 3, \"unit\": \"m\"}", RejectReason.UnitMismatch)]
    [InlineData("plant/tank/level", "{\"value\": 3, \"ts\": \"yesterday-ish\"}", RejectReason.NotNumeric)]
    [InlineData("plant/tank/level", "{\"value\": 3, \"ts\": \"2026-03-01T13:00:00Z\"}", RejectReason.FutureTimestamp)]
    [InlineData("plant/tank/level", "{\"value\": 3, \"ts\": 1000}", RejectReason.StaleTimestamp)]
    [InlineData("plant/line3/a/pressure", "{\"data\":{\"readings\":[{\"v\":1}]}}", RejectReason.NotNumeric)]
    [InlineData("plant/line3/a/pressure", "{\"data\":{\"readings\":[{\"v\":1},{\"v\":2}]},\"unit\":\"bar\"}", RejectReason.UnitMismatch)]
    public void Ingest_BadPayload_IsRejectedCountedAndLogged(string topic, string payload, RejectReason reason)
    {
        var (gate, source) = Create();
        Assert.Equal(0, source.Ingest(topic, B(payload), gate.Time.GetUtcNow()));
        Assert.Empty(gate.Accepted);
        Assert.Equal(1, gate.Rejections.Count(reason));
        var entry = Assert.Single(gate.Log.Entries);
        Assert.Equal((LogLevel.Warning, 5000), (entry.Level, entry.Id.Id));
        Assert.Contains(topic.Contains("line3", StringComparison.Ordinal) ? "line3_pressure" : "tank_level", entry.Message, StringComparison.Ordinal);

        // The source keeps going: the next good message on the same topic is accepted.
        Assert.Equal(1, source.Ingest("plant/tank/level", B("50"), gate.Time.GetUtcNow()));
    }

    [Fact]
    public void RepeatedRejections_WarnAtPowersOfTenOnly()
    {
        var (gate, source) = Create();
        for (var i = 0; i < 120; i++)
        {
            source.Ingest("plant/tank/level", B("oops"), gate.Time.GetUtcNow());
        }

        Assert.Equal(120, gate.Rejections.Count("tank_level", RejectReason.NotNumeric));
        Assert.Equal(3, gate.Log.Entries.Count(e => e.Level == LogLevel.Warning));
        Assert.Equal(117, gate.Log.Entries.Count(e => e.Level == LogLevel.Debug));
    }

    [Fact]
    public void IngestSensorTopic_UnknownSensorOrWrongUnit_IsRejected()
    {
        var (gate, source) = Create();
        Assert.False(source.IngestSensorTopic("no_such_sensor", B("1"), gate.Time.GetUtcNow()));
        Assert.False(source.IngestSensorTopic("hall_temp", B("""{"value": 70, "unit": "degF"}"""), gate.Time.GetUtcNow()));
        Assert.True(source.IngestSensorTopic("hall_temp", B("""{"value": 21, "unit": "degC"}"""), gate.Time.GetUtcNow()));
        Assert.Equal(1, gate.Rejections.Count(RejectReason.UnknownSensor));
        Assert.Equal(1, gate.Rejections.Count(RejectReason.UnitMismatch));
        Assert.Equal(21, Assert.Single(gate.Accepted).Value);
    }

    [Fact]
    public void TopicFilters_ListEachMappingOnce() =>
        Assert.Equal(["plant/line3/+/pressure", "plant/tank/level", "building/#"], Create().Source.TopicFilters);

    [Fact]
    public void RejectionCounters_ManyUnknownIds_AreCountedUnderOneKeyPastTheCap()
    {
        var (gate, source) = Create();
        for (var i = 0; i < Ingestion.RejectionCounters.MaxKeys + 50; i++)
        {
            source.IngestSensorTopic($"ghost_{i}", B("1"), gate.Time.GetUtcNow());
        }

        Assert.Equal(Ingestion.RejectionCounters.MaxKeys + 50, gate.Rejections.Count(RejectReason.UnknownSensor));
        Assert.Equal(50, gate.Rejections.Count("*", RejectReason.UnknownSensor));
    }
}
