using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using EdgeLlm.Sensors.Ingestion;

namespace EdgeLlm.Sensors.Mqtt;

/// <summary>
/// Turns MQTT messages into readings by the <c>Sensors:Mqtt</c> mappings. It owns no connection: whoever holds the
/// MQTT client (the agent) subscribes to <see cref="TopicFilters"/> and hands every message to
/// <see cref="Ingest(string, ReadOnlyMemory{byte}, DateTimeOffset)"/>. Safe to call from any thread.
/// </summary>
/// <remarks>
/// Payloads: a plain number (<c>21.5</c>), an object <c>{"value": 21.5, "ts": "2026-01-01T00:00:00Z", "unit": "°C"}</c>,
/// or any JSON with the number at the mapping's <c>JsonPath</c>. A numeric <c>ts</c> is Unix seconds (fractions allowed);
/// above 10^11 it is taken as Unix milliseconds. Without <c>ts</c> the receive time is the reading's time.
/// </remarks>
public sealed class MqttTopicSource
{
    private const int MaxCachedTopics = 10_000;
    private readonly Mapping[] _mappings;
    private readonly ISensorReadingSink _sink;
    private readonly ConcurrentDictionary<string, Mapping[]> _byTopic = new(StringComparer.Ordinal);

    internal MqttTopicSource(IEnumerable<MqttSensorSettings> mappings, ISensorReadingSink sink)
    {
        _mappings = [.. mappings.Select(m => new Mapping(
            m,
            m.JsonPath is null ? null : JsonPath.Parse(m.JsonPath),
            m.TimestampPath is null ? null : JsonPath.Parse(m.TimestampPath)))];
        _sink = sink;
        TopicFilters = [.. _mappings.Select(m => m.Settings.Topic).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The topic filters to subscribe to.</summary>
    public IReadOnlyList<string> TopicFilters { get; }

    /// <summary>Maps one message; returns how many readings were accepted (a topic may feed several sensors).</summary>
    public int Ingest(string topic, ReadOnlySequence<byte> payload, DateTimeOffset receivedAt) =>
        Ingest(topic, payload.IsSingleSegment ? payload.First : payload.ToArray(), receivedAt);

    /// <inheritdoc cref="Ingest(string, ReadOnlySequence{byte}, DateTimeOffset)"/>
    public int Ingest(string topic, ReadOnlyMemory<byte> payload, DateTimeOffset receivedAt)
    {
        var accepted = 0;
        foreach (var mapping in MappingsFor(topic))
        {
            if (TryParse(mapping, payload, receivedAt, out var value, out var ts, out var unit, out var problem))
            {
                var expected = mapping.Settings.PayloadUnit ?? mapping.Settings.Unit;
                if (unit is not null && !Units.Same(unit, expected))
                {
                    _sink.Reject(mapping.Settings.Id, RejectReason.UnitMismatch, $"topic {topic}: payload in '{unit}', mapping expects '{expected}'");
                    continue;
                }

                accepted += _sink.Submit(mapping.Settings.Id, ts, (value * mapping.Settings.Scale) + mapping.Settings.Offset) ? 1 : 0;
            }
            else
            {
                _sink.Reject(mapping.Settings.Id, problem.Reason, $"topic {topic}: {problem.Detail}");
            }
        }

        return accepted;
    }

    /// <summary>
    /// A message on the agent's own <c>sensors/{sensorId}</c> topic: a number or <c>{value, ts?, unit?}</c> for a known
    /// sensor. False when rejected.
    /// </summary>
    public bool IngestSensorTopic(string sensorId, ReadOnlyMemory<byte> payload, DateTimeOffset receivedAt)
    {
        if (!TryParse(null, payload, receivedAt, out var value, out var ts, out var unit, out var problem))
        {
            _sink.Reject(sensorId, problem.Reason, $"topic sensors/{sensorId}: {problem.Detail}");
            return false;
        }

        return _sink.Submit(sensorId, ts, value, unit);
    }

    private Mapping[] MappingsFor(string topic)
    {
        if (_byTopic.TryGetValue(topic, out var cached))
        {
            return cached;
        }

        var found = _mappings.Where(m => TopicFilter.Matches(m.Settings.Topic, topic)).ToArray();

        // Wildcard filters can see unbounded topic names; stop caching rather than grow without limit.
        if (_byTopic.Count < MaxCachedTopics)
        {
            _byTopic.TryAdd(topic, found);
        }

        return found;
    }

    private static bool TryParse(Mapping? mapping, ReadOnlyMemory<byte> payload, DateTimeOffset receivedAt, out double value, out DateTimeOffset ts, out string? unit, out (RejectReason Reason, string Detail) problem)
    {
        (value, ts, unit, problem) = (0, receivedAt, null, default);
        var span = payload.Span.Trim(" \t\r\n"u8);
        if (mapping?.ValuePath is null && span.Length > 0 && span[0] != (byte)'{')
        {
            if (double.TryParse(span, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
            {
                return true;
            }

            problem = (RejectReason.NotNumeric, $"payload '{Shown(span)}' is not a number");
            return false;
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload);
        }
        catch (JsonException)
        {
            problem = (RejectReason.NotNumeric, $"payload '{Shown(span)}' is neither a number nor valid JSON");
            return false;
        }

        using (doc)
        {
            var root = doc.RootElement;
            JsonElement valueElement;
            if (mapping?.ValuePath is { } path)
            {
                if (!path.TrySelect(root, out valueElement))
                {
                    problem = (RejectReason.NotNumeric, $"payload has nothing at {path.Text}");
                    return false;
                }
            }
            else if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("value", out valueElement))
            {
                problem = (RejectReason.NotNumeric, "payload object has no 'value' field");
                return false;
            }

            if (!TryNumber(valueElement, out value))
            {
                problem = (RejectReason.NotNumeric, $"value '{Shown(valueElement.GetRawText())}' is not a number");
                return false;
            }

            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("unit", out var unitElement) && unitElement.ValueKind == JsonValueKind.String)
            {
                unit = unitElement.GetString();
            }

            var tsElement = default(JsonElement);
            var hasTs = mapping?.TimestampPath is { } tsPath
                ? tsPath.TrySelect(root, out tsElement)
                : root.ValueKind == JsonValueKind.Object && root.TryGetProperty("ts", out tsElement);
            if (hasTs && !TryTimestamp(tsElement, out ts))
            {
                problem = (RejectReason.NotNumeric, $"timestamp '{Shown(tsElement.GetRawText())}' is neither ISO 8601 nor Unix seconds");
                return false;
            }

            return true;
        }
    }

    private static bool TryNumber(JsonElement e, out double value)
    {
        value = 0;
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                return e.TryGetDouble(out value);
            case JsonValueKind.String:
                return double.TryParse(e.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
            case JsonValueKind.True or JsonValueKind.False:
                // Contacts and switches publish booleans; they are levels 1 and 0.
                value = e.ValueKind == JsonValueKind.True ? 1 : 0;
                return true;
            default:
                return false;
        }
    }

    private static bool TryTimestamp(JsonElement e, out DateTimeOffset ts)
    {
        ts = default;
        if (e.ValueKind == JsonValueKind.String)
        {
            return DateTimeOffset.TryParse(e.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out ts);
        }

        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out var n) || !double.IsFinite(n))
        {
            return false;
        }

        var ms = n > 1e11 ? n : n * 1000;
        if (Math.Abs(ms) > 2.5e14)
        {
            return false;
        }

        ts = DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(ms));
        return true;
    }

    private static string Shown(ReadOnlySpan<byte> bytes) => Shown(System.Text.Encoding.UTF8.GetString(bytes[..Math.Min(bytes.Length, 60)]));

    private static string Shown(string text) => text.Length > 40 ? text[..40] + "…" : text;

    private sealed record Mapping(MqttSensorSettings Settings, JsonPath? ValuePath, JsonPath? TimestampPath);
}
