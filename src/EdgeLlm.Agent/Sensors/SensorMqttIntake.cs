using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Sensors;
using EdgeLlm.Sensors.Catalog;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace EdgeLlm.Agent.Sensors;

/// <summary>
/// The sensors' MQTT side: readings on the device's own <c>sensors/{sensorId}</c> topics and on the
/// <c>Sensors:Mqtt</c> mapped topics go to the hub's validating sink (which only enqueues, so the handler never waits
/// on the store); structured questions on <c>sensor-query</c> are validated in the handler and answered from the store
/// by one background loop, so a slow query never holds up MQTT acknowledgements.
/// </summary>
internal sealed class SensorMqttIntake : IMqttSubscriber, IHostedService
{
    /// <summary>Structured questions waiting for the loop; more get <c>busy</c>.</summary>
    internal const int QueueCapacity = 64;

    private static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(1);
    private readonly SensorHub _hub;
    private readonly MqttConnection _connection;
    private readonly RequestDispatcher _dispatcher;
    private readonly AgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SensorMqttIntake> _logger;
    private readonly string _sensorPrefix;
    private readonly string _queryTopic;
    private readonly Channel<SensorQueryWork> _queries = Channel.CreateBounded<SensorQueryWork>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private Task? _loop;

    public SensorMqttIntake(SensorHub hub, MqttConnection connection, RequestDispatcher dispatcher, IOptions<AgentOptions> options, TimeProvider time, ILogger<SensorMqttIntake> logger)
    {
        _hub = hub;
        _connection = connection;
        _dispatcher = dispatcher;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _sensorPrefix = MqttTopics.Sensor(_options.DeviceId, "");
        _queryTopic = MqttTopics.SensorQuery(_options.DeviceId);
        TopicFilters = [MqttTopics.AllSensors(_options.DeviceId), _queryTopic, .. hub.Mqtt.TopicFilters];
    }

    public IReadOnlyList<string> TopicFilters { get; }

    public Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        try
        {
            if (message.Topic == _queryTopic)
            {
                HandleQuery(message);
                return Task.CompletedTask;
            }

            var payload = message.Payload.IsSingleSegment ? message.Payload.First : message.Payload.ToArray();
            var now = _time.GetUtcNow();
            if (message.Topic.StartsWith(_sensorPrefix, StringComparison.Ordinal) && message.Topic.IndexOf('/', _sensorPrefix.Length) < 0)
            {
                _hub.Mqtt.IngestSensorTopic(message.Topic[_sensorPrefix.Length..], payload, now);
            }

            // A mapping may also cover the device's own topics; readings of unmapped topics are ignored there.
            _hub.Mqtt.Ingest(message.Topic, payload, now);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Nothing a publisher sends may stop the handler: MQTTnet would drop the connection with it.
            SensorsAgentLog.IntakeFailed(_logger, message.Topic, ex);
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(QueryLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _queries.Writer.TryComplete();
        await (_loop ?? Task.CompletedTask).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void HandleQuery(MqttApplicationMessage message)
    {
        var parsed = Parse(message.Payload, message.ResponseTopic, message.CorrelationData, _options.MaxPayloadBytes);
        if (parsed.Error is { } error)
        {
            Refuse(parsed.Id, parsed.Reply, ErrorCodes.InvalidRequest, error);
            return;
        }

        if (!_queries.Writer.TryWrite(parsed))
        {
            Refuse(parsed.Id, parsed.Reply, ErrorCodes.Busy, $"{QueueCapacity} sensor queries are already waiting; ask again later");
        }
    }

    private void Refuse(string id, ReplyAddress? reply, string code, string message)
    {
        SensorsAgentLog.QueryRefused(_logger, id, code, message);
        if (reply is not null)
        {
            _dispatcher.Reject(reply, id, code, message);
        }
    }

    private async Task QueryLoopAsync()
    {
        await foreach (var work in _queries.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            var sensor = _hub.Catalog.Resolve(work.Sensor!);
            if (sensor is null)
            {
                var known = _hub.Catalog.Sensors.Count == 0 ? "none" : string.Join(", ", _hub.Catalog.Sensors.Select(s => s.Id).Take(20));
                Refuse(work.Id, work.Reply, ErrorCodes.InvalidRequest, $"field sensor: no sensor matches '{work.Sensor}'; known: {known}");
                continue;
            }

            JsonObject reply;
            try
            {
                reply = Reply(work, _hub.Query(sensor, work.Window));
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
            {
                Refuse(work.Id, work.Reply, ErrorCodes.Internal, $"the sensor store could not answer: {ex.Message}");
                continue;
            }

            var builder = new MqttApplicationMessageBuilder()
                .WithTopic(work.Reply!.Topic)
                .WithPayload(JsonSerializer.SerializeToUtf8Bytes(reply, SensorJsonContext.Default.JsonObject))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithContentType("application/json");
            if (work.Reply.CorrelationData is not null)
            {
                builder.WithCorrelationData(work.Reply.CorrelationData);
            }

            try
            {
                await _connection.PublishAsync(builder.Build(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                SensorsAgentLog.ReplyLost(_logger, work.Id, work.Reply.Topic, ex.Message);
            }
        }
    }

    /// <summary>The reply: <c>{type: sensor_data, id, correlation_id?, data}</c>, data as <c>edgellm sensors query --json</c> writes it.</summary>
    internal static JsonObject Reply(SensorQueryWork work, EdgeLlm.Sensors.Storage.SensorQueryResult result)
    {
        var reply = new JsonObject { ["type"] = "sensor_data", ["id"] = work.Id };
        if (work.Reply?.CorrelationId is { } cid)
        {
            reply["correlation_id"] = cid;
        }

        reply["data"] = JsonSerializer.SerializeToNode(result, SensorJsonContext.Default.SensorQueryResult);
        return reply;
    }

    /// <summary>A validated structured question, or the reason it is refused (with the reply address when one was found).</summary>
    internal sealed record SensorQueryWork(string Id, ReplyAddress? Reply, string? Sensor, TimeSpan Window, string? Error);

    /// <summary>Validates one <c>sensor-query</c> payload; never throws for anything a client can send.</summary>
    internal static SensorQueryWork Parse(ReadOnlySequence<byte> payload, string? responseTopic, byte[]? correlationData, int maxBytes)
    {
        var id = Guid.CreateVersion7().ToString("n");
        var reply = TopicFilter.IsReplyTopic(responseTopic) ? new ReplyAddress(responseTopic!, correlationData, null) : null;
        SensorQueryWork Fail(string error) => new(id, reply, null, default, error);
        if (payload.Length > maxBytes)
        {
            return Fail($"the sensor query is {payload.Length} bytes, more than the limit of {maxBytes} (Agent:MaxPayloadBytes)");
        }

        SensorQueryRequest? request;
        try
        {
            var reader = new Utf8JsonReader(payload);
            request = JsonSerializer.Deserialize(ref reader, MqttJsonContext.Default.SensorQueryRequest);
        }
        catch (JsonException ex)
        {
            return Fail($"the sensor query is not a valid JSON object {{sensor, window?, reply_to?, correlation_id?}}: {ex.Message}");
        }

        if (request is null)
        {
            return Fail("the sensor query is null");
        }

        if (request.Id is { Length: > 0 and <= 128 } givenId && !givenId.Any(char.IsControl))
        {
            id = givenId;
        }

        if (reply is null && TopicFilter.IsReplyTopic(request.ReplyTo))
        {
            reply = new ReplyAddress(request.ReplyTo!, null, request.CorrelationId);
        }
        else if (reply is not null && correlationData is null && request.CorrelationId is { } cid)
        {
            reply = reply with { CorrelationId = cid };
        }

        if (reply is null)
        {
            return Fail(responseTopic is not null ? TopicFilter.NotAReplyTopic("the response topic", responseTopic)
                : request.ReplyTo is { } rt ? TopicFilter.NotAReplyTopic("field reply_to", rt)
                : "the sensor query has no reply address: set an MQTT 5 response topic or the reply_to field");
        }

        if (string.IsNullOrWhiteSpace(request.Sensor))
        {
            return Fail("field sensor is missing or blank; name a sensor by id, name or alias");
        }

        var window = DefaultWindow;
        if (request.Window is { } text && !SensorSummary.TryParseSpan(text, out window))
        {
            return Fail($"field window '{text}' is not a duration: use for example 90s, 15m, 1h or 2d");
        }

        return new SensorQueryWork(id, reply, request.Sensor, window, null);
    }
}
