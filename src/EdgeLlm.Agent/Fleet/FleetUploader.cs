using System.Net;
using System.Net.Http.Json;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Fleet;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// Uploads the outbox, oldest first, in batches of Fleet:BatchSize. Items leave the outbox only after the server's 2xx, so
/// a crash at any point re-sends at most the batch in flight, which the server recognises by (device, seq). A backlog
/// goes out batch after batch; failures (network, timeout, 5xx) back off exponentially with full jitter, 429 waits for
/// Retry-After, 413 halves the batch, a single item the server refuses (400/413) is dropped and reported; a refused
/// credential (401/403) stops uploads but keeps the data.
/// </summary>
internal sealed class FleetUploader(Outbox outbox, FleetLink link, IOptions<FleetOptions> options, TimeProvider time, ILogger<FleetUploader> logger, Random? random = null)
    : AgentService
{
    private readonly FleetOptions _options = options.Value;
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(options.Value.BackoffMinMs), TimeSpan.FromMilliseconds(options.Value.BackoffMaxMs), random ?? Random.Shared);
    private int _batchLimit = options.Value.BatchSize;
    private string? _state;

    /// <summary>Failed attempts in a row.</summary>
    public int Failures => _backoff.Failures;

    /// <summary>Batches the server acknowledged since start.</summary>
    public long Batches { get; private set; }

    /// <summary>Requests sent since start (any outcome).</summary>
    public long Attempts { get; private set; }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = await StepAsync(stoppingToken).ConfigureAwait(false);
            await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>One upload attempt (or none, when there is nothing to do); returns how long to wait before the next.</summary>
    public async Task<TimeSpan> StepAsync(CancellationToken cancellationToken)
    {
        var credentials = link.Refresh();
        if (credentials is null || link.Refused)
        {
            return _options.UploadInterval;
        }

        var batch = outbox.ReadBatch(Math.Min(_batchLimit, _options.BatchSize));
        if (batch.Count == 0)
        {
            return _options.UploadInterval;
        }

        HttpResponseMessage response;
        try
        {
            using var request = FleetLink.Request(HttpMethod.Post, credentials, FleetRoutes.Telemetry);
            request.Content = JsonContent.Create(new TelemetryBatch { Items = batch }, FleetJsonContext.Default.TelemetryBatch);
            Attempts++;
            response = await link.Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return Failed(credentials, ex is TaskCanceledException ? $"no answer within {_options.HttpTimeoutSeconds} s" : ex.Message);
        }

        using (response)
        {
            var status = response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                outbox.Acknowledge(batch[0].Seq, batch[^1].Seq);
                Batches++;
                Recovered(credentials);
                _batchLimit = Math.Min(_options.BatchSize, _batchLimit * 2);
                // A backlog goes out at once; otherwise wait for the next interval.
                return outbox.Count > 0 ? TimeSpan.Zero : _options.UploadInterval;
            }

            switch (status)
            {
                case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                    link.MarkRefused(credentials, status);
                    SetState("revoked");
                    return _options.UploadInterval;
                case HttpStatusCode.TooManyRequests:
                    var wait = RetryAfter(response) ?? _backoff.Next();
                    FleetLog.RateLimited(logger, wait.TotalMilliseconds);
                    return wait;
                case HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.BadRequest:
                    if (batch.Count == 1)
                    {
                        var error = await ErrorMessageAsync(response, cancellationToken).ConfigureAwait(false);
                        FleetLog.ItemRejected(logger, batch[0].Seq, batch[0].Name, (int)status, error);
                        outbox.Reject(batch[0].Seq);
                        outbox.Enqueue(OutboxEntry.Event(time.GetUtcNow(), "telemetry_rejected", RequestTelemetry.Json(w =>
                        {
                            w.WriteNumber("seq", batch[0].Seq);
                            w.WriteString("name", batch[0].Name);
                            w.WriteNumber("status", (int)status);
                        })));
                    }

                    // Find the item the server refuses by halving; the others go through meanwhile.
                    _batchLimit = Math.Max(1, batch.Count / 2);
                    return TimeSpan.Zero;
                default:
                    return Failed(credentials, $"HTTP {(int)status}");
            }
        }
    }

    /// <summary>Retry-After as seconds or a date; null when absent. At most an hour.</summary>
    internal TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        var wait = header?.Delta ?? (header?.Date is { } date ? date - time.GetUtcNow() : null);
        return wait is null ? null : TimeSpan.FromTicks(Math.Clamp(wait.Value.Ticks, 0, TimeSpan.FromHours(1).Ticks));
    }

    private TimeSpan Failed(FleetCredentials credentials, string error)
    {
        var wait = _backoff.Next();
        if (_backoff.Failures == 1)
        {
            FleetLog.Unreachable(logger, credentials.Server, error);
            SetState("unreachable");
        }

        FleetLog.RetryScheduled(logger, "upload", _backoff.Failures, error, wait.TotalMilliseconds);
        return wait;
    }

    private void Recovered(FleetCredentials credentials)
    {
        if (_backoff.Failures > 0)
        {
            FleetLog.Reachable(logger, credentials.Server, _backoff.Failures);
            _backoff.Reset();
        }

        SetState("ok");
    }

    private void SetState(string state)
    {
        if (_state != state)
        {
            outbox.SetState(FleetLink.StateKey, state);
            _state = state;
        }
    }

    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.FleetError, cancellationToken).ConfigureAwait(false);
            return error is null ? response.ReasonPhrase ?? "" : $"{error.Error.Code}: {error.Error.Message}";
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or HttpRequestException or NotSupportedException)
        {
            return response.ReasonPhrase ?? "";
        }
    }
}
