using System.Diagnostics;
using System.Diagnostics.Metrics;
using EdgeLlm.Runtime.Scheduling;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Metrics;

/// <summary>Outcomes of a question as the <c>outcome</c> label of <c>edgellm_questions_total</c>.</summary>
internal static class QuestionOutcomes
{
    public const string Answered = "answered";
    public const string Cancelled = "cancelled";
    public const string Timeout = "timeout";
    public const string Failed = "failed";
    public const string Rejected = "rejected";
}

/// <summary>How a model load ended, as the <c>outcome</c> label of <c>edgellm_model_loads_total</c>.</summary>
internal static class ModelLoadOutcomes
{
    /// <summary>The model at start was loaded.</summary>
    public const string Loaded = "loaded";

    /// <summary>No usable model at start: the agent answers from retrieval only.</summary>
    public const string RetrievalOnly = "retrieval_only";

    /// <summary>An activated model replaced the running one.</summary>
    public const string Switched = "switched";
}

/// <summary>Why an MQTT message was refused, as the <c>reason</c> label of <c>edgellm_mqtt_messages_refused_total</c>.</summary>
internal static class RefusalReasons
{
    /// <summary>Larger than <c>Agent:MaxPayloadBytes</c>.</summary>
    public const string Oversized = "oversized";

    /// <summary>Not JSON, not an object, or a field of the wrong JSON type.</summary>
    public const string Malformed = "malformed";

    /// <summary>Well-formed but a field's value is not allowed (blank question, unknown mode, …).</summary>
    public const string Invalid = "invalid";

    /// <summary>No response topic and no <c>reply_to</c>.</summary>
    public const string NoReplyAddress = "no_reply_address";

    /// <summary>Valid, but the inbox or the scheduler was full, or the agent is stopping.</summary>
    public const string Busy = "busy";

    /// <summary>Valid, but its id is already running.</summary>
    public const string Duplicate = "duplicate";
}

/// <summary>
/// The agent's instruments on one <see cref="Meter"/> named <see cref="MeterName"/>, made by the container's
/// <see cref="IMeterFactory"/> (so two agents in one process never share series). Labels are bounded sets only: priority,
/// outcome, reason, state; never a device id, a question id or free text. Recording costs next to nothing while nobody
/// listens (metrics are off by default).
/// </summary>
internal sealed class AgentMetrics : IDisposable
{
    public const string MeterName = "EdgeLlm.Agent";

    /// <summary>Seconds buckets from 5 ms to a minute (answers on small devices take seconds; retrieval takes milliseconds).</summary>
    internal static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>Decode speed buckets from 1 to 200 tokens/s.</summary>
    internal static readonly double[] TokensPerSecondBuckets = [1, 2, 5, 10, 20, 50, 100, 200];

    private readonly Counter<long> _questions;
    private readonly Histogram<double> _answerDuration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _completionTokens;
    private readonly Histogram<double> _decodeRate;
    private readonly Counter<long> _refused;
    private readonly Histogram<double> _retrieval;
    private readonly Counter<long> _modelLoads;
    private readonly Counter<long> _activations;

    /// <param name="meters">Makes the agent's meter.</param>
    /// <param name="time">The clock of the uptime gauge.</param>
    /// <param name="collect">Start collecting at once (<c>Metrics:Enabled</c>): a listener that starts later misses what was counted before it, such as the model load at start.</param>
    /// <param name="logger">Where a failing gauge callback is logged.</param>
    public AgentMetrics(IMeterFactory meters, TimeProvider time, bool collect = false, ILogger? logger = null)
    {
        Meter = meters.Create(MeterName);
        var started = time.GetTimestamp();
        _questions = Meter.CreateCounter<long>("edgellm.questions", "{question}", "Questions received, by priority and outcome (answered, cancelled, timeout, failed, rejected).");
        _answerDuration = Meter.CreateHistogram("edgellm.answer.duration", "s", "Time from receiving a question to its final answer.", advice: Seconds);
        _timeToFirstToken = Meter.CreateHistogram("edgellm.answer.time_to_first_token", "s", "Time from the start of generation to the first generated token.", advice: Seconds);
        _promptTokens = Meter.CreateCounter<long>("edgellm.tokens.prompt", "{token}", "Prompt tokens of answered questions.");
        _completionTokens = Meter.CreateCounter<long>("edgellm.tokens.completion", "{token}", "Generated tokens of answered questions.");
        _decodeRate = Meter.CreateHistogram("edgellm.decode.rate", "{token}/s", "Decode speed of each generated answer.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = TokensPerSecondBuckets });
        _refused = Meter.CreateCounter<long>("edgellm.mqtt.messages_refused", "{message}", "MQTT messages refused, by topic (ask, cancel) and reason.");
        _retrieval = Meter.CreateHistogram("edgellm.retrieval.duration", "s", "Time to search the manuals for one question.", advice: Seconds);
        _modelLoads = Meter.CreateCounter<long>("edgellm.model.loads", "{load}", "Model loads at start and model switches, by outcome (loaded, retrieval_only, switched).");
        _activations = Meter.CreateCounter<long>("edgellm.model.activations", "{activation}",
            "Model and adapter activations reaching an end state, by state (active, committed, rolled_back, load_failed, smoke_test_failed).");
        Meter.CreateObservableGauge("edgellm.agent.uptime", () => time.GetElapsedTime(started).TotalSeconds, "s", "Time since the agent started.");
        Meter.CreateObservableGauge("process.resident_memory", () => Environment.WorkingSet, "By", "Resident memory of the agent process.");
        // Started after the instruments above: the listener is told of every instrument the meter already has.
        Collector = collect ? new MetricsCollector(Meter, logger) : null;
    }

    public Meter Meter { get; }

    /// <summary>The aggregation a scrape reads; null while metrics are off (then nothing listens and recording is free).</summary>
    public MetricsCollector? Collector { get; }

    public void Dispose() => Collector?.Dispose();

    private static InstrumentAdvice<double> Seconds { get; } = new() { HistogramBucketBoundaries = SecondsBuckets };

    /// <summary>A question ended with <paramref name="outcome"/> (one of <see cref="QuestionOutcomes"/>).</summary>
    public void Question(RequestPriority priority, string outcome) =>
        _questions.Add(1, new TagList { { "priority", PriorityLabel(priority) }, { "outcome", outcome } });

    /// <summary>An answer was sent: its duration, and when a model generated it, its tokens and speed.</summary>
    public void Answered(RequestPriority priority, TimeSpan duration, int promptTokens, int completionTokens, double ttftMs, double tokensPerSecond)
    {
        var p = new KeyValuePair<string, object?>("priority", PriorityLabel(priority));
        _answerDuration.Record(duration.TotalSeconds, p);
        if (completionTokens <= 0)
        {
            return; // A retrieval-only answer: no model ran.
        }

        _promptTokens.Add(promptTokens);
        _completionTokens.Add(completionTokens);
        _timeToFirstToken.Record(ttftMs / 1000);
        if (tokensPerSecond > 0)
        {
            _decodeRate.Record(tokensPerSecond);
        }
    }

    /// <summary>An MQTT message on <paramref name="topic"/> (ask, cancel) was refused for <paramref name="reason"/> (one of <see cref="RefusalReasons"/>).</summary>
    public void Refused(string topic, string reason) => _refused.Add(1, new TagList { { "topic", topic }, { "reason", reason } });

    public void Retrieval(TimeSpan duration) => _retrieval.Record(duration.TotalSeconds);

    /// <summary>A model load ended with <paramref name="outcome"/> (one of <see cref="ModelLoadOutcomes"/>).</summary>
    public void ModelLoad(string outcome) => _modelLoads.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Activation(string state) => _activations.Add(1, new KeyValuePair<string, object?>("state", state));

    /// <summary>Registers a gauge read at each scrape (queue depth and the like, owned by other services).</summary>
    public void ObserveGauge(string name, string unit, string description, Func<double> read) =>
        Meter.CreateObservableGauge(name, read, unit, description);

    /// <summary>Registers a counter whose running total another service keeps (bytes downloaded, readings stored).</summary>
    public void ObserveCounter(string name, string unit, string description, Func<long> read) =>
        Meter.CreateObservableCounter(name, read, unit, description);

    internal static string PriorityLabel(RequestPriority priority) => priority == RequestPriority.Automation ? "automation" : "operator";
}
