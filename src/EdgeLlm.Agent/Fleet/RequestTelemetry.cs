using System.Text;
using System.Text.Json;
using EdgeLlm.Agent.Storage;
using EdgeLlm.Contracts.Fleet;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>What the request dispatcher tells about every request it finished or refused.</summary>
internal interface IRequestRecorder
{
    /// <summary>A request ended (answer or error); <paramref name="entry"/> is its query log entry, <paramref name="failed"/> when its outcome is an error code.</summary>
    void Completed(QueryLogEntry entry, bool failed, double tokensPerSecond);

    /// <summary>An ask was refused before it ran (busy, invalid_request, …).</summary>
    void Refused(string code);
}

/// <summary>The requests since the last sample.</summary>
internal sealed record RequestSample(int Requests, IReadOnlyList<double> LatenciesMs, IReadOnlyList<double> TokensPerSecond, IReadOnlyDictionary<string, int> Errors);

/// <summary>
/// Aggregates requests between telemetry samples (latencies, tokens/s, error counts), queues <c>request_error</c> events
/// (code and mode only, never the question; at most Fleet:MaxErrorEventsPerSample per sample), keeps the recent errors
/// for the reported state, and — only when <see cref="QueryLogPolicy"/> allows — queues the redacted query log entry.
/// </summary>
internal sealed class RequestTelemetry(Outbox outbox, QueryLogPolicy policy, IOptions<FleetOptions> options, TimeProvider time) : IRequestRecorder
{
    /// <summary>Question and answer are cut to this many characters after redaction (so no cut leaves half an address behind).</summary>
    public const int MaxTextChars = 8000;

    private readonly Lock _gate = new();
    private readonly Redactor _redactor = new(options.Value.SerialPatterns);
    private readonly LinkedList<string> _recentErrors = new();
    private List<double> _latencies = [];
    private List<double> _tokensPerSecond = [];
    private Dictionary<string, int> _errors = new(StringComparer.Ordinal);
    private int _requests;
    private int _errorEvents;

    public Redactor Redactor => _redactor;

    public void Completed(QueryLogEntry entry, bool failed, double tokensPerSecond)
    {
        lock (_gate)
        {
            _requests++;
            _latencies.Add(entry.TotalMs);
            if (tokensPerSecond > 0)
            {
                _tokensPerSecond.Add(tokensPerSecond);
            }
        }

        if (failed)
        {
            Error(entry.Outcome, entry.Mode);
        }

        if (policy.Allowed)
        {
            Enqueue(new OutboxEntry(entry.At, TelemetryKinds.Query, "query", null, QueryData(entry), OutboxPriority.Low));
        }
    }

    public void Refused(string code) => Error(code, null);

    /// <summary>The requests since the previous call, and a fresh start.</summary>
    public RequestSample TakeSample()
    {
        lock (_gate)
        {
            var sample = new RequestSample(_requests, _latencies, _tokensPerSecond, _errors);
            (_requests, _errorEvents, _latencies, _tokensPerSecond, _errors) = (0, 0, [], [], new(StringComparer.Ordinal));
            return sample;
        }
    }

    /// <summary>The last errors, newest first: time and code.</summary>
    public IReadOnlyList<string> RecentErrors()
    {
        lock (_gate)
        {
            return [.. _recentErrors];
        }
    }

    private void Error(string code, string? mode)
    {
        var now = time.GetUtcNow();
        bool evented;
        lock (_gate)
        {
            _errors[code] = _errors.GetValueOrDefault(code) + 1;
            _recentErrors.AddFirst($"{now:yyyy-MM-ddTHH:mm:ssZ} {code}");
            if (_recentErrors.Count > 10)
            {
                _recentErrors.RemoveLast();
            }

            evented = _errorEvents < options.Value.MaxErrorEventsPerSample;
            _errorEvents += evented ? 1 : 0;
        }

        if (evented)
        {
            Enqueue(OutboxEntry.Event(now, "request_error", Json(w =>
            {
                w.WriteString("code", code);
                if (mode is not null)
                {
                    w.WriteString("mode", mode);
                }
            })));
        }
    }

    private void Enqueue(OutboxEntry entry)
    {
        try
        {
            outbox.Enqueue(entry);
        }
        catch (SqliteException)
        {
            // Telemetry must never fail an answer. The sampler writes to the same database and fails loudly there.
        }
    }

    private string QueryData(QueryLogEntry e) => Json(w =>
    {
        w.WriteString("mode", e.Mode);
        w.WriteString("question", Cut(_redactor.Redact(e.Question)));
        if (e.Answer is not null)
        {
            w.WriteString("answer", Cut(_redactor.Redact(e.Answer)));
        }

        w.WriteString("outcome", e.Outcome);
        w.WriteNumber("prompt_tokens", e.PromptTokens);
        w.WriteNumber("completion_tokens", e.CompletionTokens);
        w.WriteNumber("total_ms", Math.Round(e.TotalMs, 3));
    });

    private static string Cut(string s) => s.Length <= MaxTextChars ? s : s[..MaxTextChars] + "…";

    /// <summary>A JSON object written by <paramref name="body"/>.</summary>
    public static string Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
