using System.Buffers;
using System.Text;
using System.Text.Json;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Metrics;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Scheduling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;

namespace EdgeLlm.Agent.Mqtt;

/// <summary>Where the replies of one request go: the topic, MQTT 5 correlation data, or the payload's correlation id.</summary>
internal sealed record ReplyAddress(string Topic, byte[]? CorrelationData, string? CorrelationId);

/// <summary>An accepted ask waiting for the dispatcher.</summary>
/// <param name="Query">The validated question.</param>
/// <param name="Reply">Where its replies go.</param>
/// <param name="Stream">Send chunks before the answer.</param>
/// <param name="ReceivedAt">When the ask arrived (a <see cref="TimeProvider"/> timestamp).</param>
/// <param name="Sender">The asking client's id where the broker tells it (the embedded broker does), else null.</param>
internal sealed record AskWork(QueryContext Query, ReplyAddress Reply, bool Stream, long ReceivedAt, string? Sender = null);

/// <summary>
/// The MQTT message handler: validates <c>ask</c> and <c>cancel</c> messages and hands them to the
/// <see cref="RequestDispatcher"/> without waiting (MQTTnet acknowledges a message only after its handler returns).
/// Every refusal is logged, and answered with an <c>error</c> whenever the ask names a reply address.
/// </summary>
internal sealed class AskIntake(IOptions<AgentOptions> options, RequestDispatcher dispatcher, TimeProvider time, ILogger<AskIntake> logger,
    AgentMetrics? metrics = null)
{
    private readonly string _askTopic = MqttTopics.Ask(options.Value.DeviceId);
    private readonly string _cancelTopic = MqttTopics.Cancel(options.Value.DeviceId);

    public Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        try
        {
            if (message.Topic == _askTopic)
            {
                HandleAsk(message);
            }
            else if (message.Topic == _cancelTopic)
            {
                HandleCancel(message);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Nothing a client sends may stop the handler: MQTTnet would drop the connection with it.
            Log.IntakeFailed(logger, message.Topic, ex);
        }

        return Task.CompletedTask;
    }

    private void HandleAsk(MqttApplicationMessage message)
    {
        var received = time.GetTimestamp();
        var priority = Priority(message);
        var parsed = Parse(message.Payload, message.ResponseTopic, message.CorrelationData, options.Value, priority);
        if (parsed.Error is { } error)
        {
            Refused(priority, parsed.Reason ?? RefusalReasons.Invalid);
            Log.AskRefused(logger, parsed.Id, error.Code, error.Message);
            if (parsed.Reply is { } reply)
            {
                dispatcher.Reject(reply, parsed.Id, error.Code, error.Message);
            }

            return;
        }

        var work = parsed.Work! with { ReceivedAt = received, Sender = Property(message, EmbeddedBroker.SenderProperty) };
        var refusal = dispatcher.TryAccept(work);
        if (refusal is not null)
        {
            Refused(priority, refusal.Code == ErrorCodes.Busy ? RefusalReasons.Busy : RefusalReasons.Duplicate);
            Log.AskRefused(logger, parsed.Id, refusal.Code, refusal.Message);
            dispatcher.Reject(work.Reply, parsed.Id, refusal.Code, refusal.Message);
        }
    }

    private void HandleCancel(MqttApplicationMessage message)
    {
        string? id = null;
        try
        {
            var reader = new Utf8JsonReader(message.Payload);
            id = JsonSerializer.Deserialize(ref reader, MqttJsonContext.Default.CancelRequest)?.Id;
        }
        catch (JsonException ex)
        {
            metrics?.Refused("cancel", RefusalReasons.Malformed);
            Log.CancelRefused(logger, ex.Message);
            return;
        }

        if (string.IsNullOrEmpty(id))
        {
            metrics?.Refused("cancel", RefusalReasons.Invalid);
            Log.CancelRefused(logger, "missing id");
            return;
        }

        Log.CancelReceived(logger, id, dispatcher.Cancel(id));
    }

    private void Refused(RequestPriority priority, string reason)
    {
        metrics?.Refused("ask", reason);
        metrics?.Question(priority, QuestionOutcomes.Rejected);
    }

    private static RequestPriority Priority(MqttApplicationMessage message) =>
        Property(message, "priority") == "automation" ? RequestPriority.Automation : RequestPriority.Operator;

    private static string? Property(MqttApplicationMessage message, string name) =>
        message.UserProperties?.FirstOrDefault(p => p.Name == name) is { } p ? Encoding.UTF8.GetString(p.ValueBuffer.Span) : null;

    /// <summary>The outcome of parsing an ask: the work, or the error with whatever reply address could be found.</summary>
    /// <param name="Id">The ask's id (generated when it gave none or could not be read).</param>
    /// <param name="Reply">Where the refusal goes, when a reply address could be read.</param>
    /// <param name="Work">The accepted work (null when refused).</param>
    /// <param name="Error">Why it was refused (null when accepted).</param>
    /// <param name="Reason">Why it was refused, one of <see cref="RefusalReasons"/> (null when accepted).</param>
    internal sealed record ParsedAsk(string Id, ReplyAddress? Reply, AskWork? Work, QueryException? Error, string? Reason = null);

    /// <summary>Validates one ask payload; never throws for anything a client can send.</summary>
    internal static ParsedAsk Parse(ReadOnlySequence<byte> payload, string? responseTopic, byte[]? correlationData, AgentOptions options, RequestPriority priority)
    {
        var id = Guid.CreateVersion7().ToString("n");
        var reply = TopicFilter.IsReplyTopic(responseTopic) ? new ReplyAddress(responseTopic!, correlationData, null) : null;
        ParsedAsk Fail(string message, string reason = RefusalReasons.Invalid) => new(id, reply, null, new QueryException(ErrorCodes.InvalidRequest, message), reason);

        if (payload.Length > options.MaxPayloadBytes)
        {
            return Fail($"the ask is {payload.Length} bytes, more than the limit of {options.MaxPayloadBytes} (Agent:MaxPayloadBytes)", RefusalReasons.Oversized);
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            return Fail($"the ask is not valid JSON: {ex.Message}", RefusalReasons.Malformed);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Fail($"the ask must be a JSON object, not {root.ValueKind.ToString().ToLowerInvariant()}", RefusalReasons.Malformed);
            }

            // Read the addressing fields leniently first, so that even a badly typed ask gets its error reply.
            if (StringField(root, "id") is { Length: > 0 and <= 128 } givenId)
            {
                id = givenId;
            }

            if (reply is null && StringField(root, "reply_to") is { } replyTo && TopicFilter.IsReplyTopic(replyTo))
            {
                reply = new ReplyAddress(replyTo, null, StringField(root, "correlation_id"));
            }
            else if (reply is not null && correlationData is null && StringField(root, "correlation_id") is { } cid)
            {
                reply = reply with { CorrelationId = cid };
            }

            AskRequest? ask;
            try
            {
                ask = root.Deserialize(MqttJsonContext.Default.AskRequest);
            }
            catch (JsonException ex)
            {
                return Fail($"field {ex.Path?.TrimStart('$', '.') ?? "?"} has the wrong type: {ex.Message}", RefusalReasons.Malformed);
            }

            if (ask is null)
            {
                return Fail("the ask is null", RefusalReasons.Malformed);
            }

            if (ask.Id is { } askId && (askId.Length is 0 or > 128 || askId.Any(char.IsControl)))
            {
                return Fail("field id must be 1 to 128 characters without control characters");
            }

            if (string.IsNullOrWhiteSpace(ask.Question))
            {
                return Fail("field question is missing or blank");
            }

            if (ask.Mode is { } mode && !AskModes.All.Contains(mode))
            {
                return Fail($"field mode is '{mode}'; use one of {string.Join(", ", AskModes.All)}");
            }

            if (ask.MaxTokens is < 1)
            {
                return Fail($"field max_tokens is {ask.MaxTokens}; it must be at least 1");
            }

            if (ask.Temperature is < 0 or > 2 || ask.Temperature is { } t && !double.IsFinite(t))
            {
                return Fail($"field temperature is {ask.Temperature}; it must be between 0 and 2");
            }

            if (ask.ReplyTo is { } rt && !TopicFilter.IsReplyTopic(rt))
            {
                return Fail(TopicFilter.NotAReplyTopic("field reply_to", rt));
            }

            var history = ask.History ?? [];
            for (var i = 0; i < history.Count; i++)
            {
                if (history[i] is not { Role: "user" or "assistant", Content: not null })
                {
                    return Fail($"history[{i}] needs role 'user' or 'assistant' and a content string");
                }
            }

            if (reply is null)
            {
                return Fail(responseTopic is null
                    ? "the ask has no reply address: set an MQTT 5 response topic or the reply_to field"
                    : TopicFilter.NotAReplyTopic("the response topic", responseTopic), RefusalReasons.NoReplyAddress);
            }

            var query = new QueryContext
            {
                RequestId = id,
                Question = ask.Question,
                Mode = ask.Mode ?? AskModes.Auto,
                History = history,
                MaxTokens = ask.MaxTokens,
                Temperature = ask.Temperature,
                Priority = priority,
            };
            return new ParsedAsk(id, reply, new AskWork(query, reply, ask.Stream ?? true, 0), null);
        }
    }

    private static string? StringField(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

}
