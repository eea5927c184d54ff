using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Fleet;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// Polls the desired state (with If-None-Match, so an unchanged state costs a 304), keeps the last one in agent.db (it
/// still counts after a restart without a link), applies its query-log policy, and reports what the device runs. Models
/// and adapters are installed by the update coordinator (<see cref="IDesiredModel"/>); until they run, the revision is
/// reported as not applied and the difference logged once per revision.
/// </summary>
internal sealed class DesiredStateSync(
    Outbox outbox,
    FleetLink link,
    QueryLogPolicy policy,
    RequestTelemetry requests,
    IDeviceProbe probe,
    IOptions<FleetOptions> options,
    TimeProvider time,
    ILogger<DesiredStateSync> logger,
    Random? random = null) : AgentService, IDesiredModel
{
    public const string DesiredKey = "fleet_desired";
    public const string EtagKey = "fleet_desired_etag";
    public const string AppliedKey = "fleet_applied_revision";

    /// <summary>The reported state is sent again after this long even when unchanged (a heartbeat).</summary>
    private static readonly TimeSpan ReportEvery = TimeSpan.FromMinutes(15);

    private readonly FleetOptions _options = options.Value;
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(options.Value.BackoffMinMs), TimeSpan.FromMilliseconds(options.Value.BackoffMaxMs), random ?? Random.Shared);
    private DesiredState _desired = new();
    private long _loggedRevision = -1;
    private string? _lastReport;
    private DateTimeOffset _lastReportAt;
    private bool? _lastAllowed;

    /// <summary>The last desired state received (revision 0 before any).</summary>
    public DesiredState Desired => _desired;

    public ArtifactRef? DesiredModel => _desired.Model;

    public ArtifactRef? DesiredAdapter => _desired.Adapters.Count > 0 ? _desired.Adapters[0] : null;

    public ArtifactRef? DesiredConfig => _desired.ConfigBundle;

    /// <summary>The model update in progress and recent update failures, shown in the reported state; null without updates.</summary>
    public IUpdateStatus? Updates { get; set; }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (outbox.GetState(DesiredKey) is { } stored)
        {
            _desired = JsonSerializer.Deserialize(stored, FleetJsonContext.Default.DesiredState) ?? new DesiredState();
        }

        ApplyPolicy();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = await StepAsync(stoppingToken).ConfigureAwait(false);
            await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>One poll and (when due) one report; returns how long to wait before the next.</summary>
    public async Task<TimeSpan> StepAsync(CancellationToken cancellationToken)
    {
        var credentials = link.Refresh();
        if (credentials is null || link.Refused)
        {
            return _options.PollInterval;
        }

        try
        {
            if (!await PollAsync(credentials, cancellationToken).ConfigureAwait(false)
                || !await ReportAsync(credentials, cancellationToken).ConfigureAwait(false))
            {
                return _options.PollInterval;
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !cancellationToken.IsCancellationRequested)
        {
            var wait = _backoff.Next();
            FleetLog.RetryScheduled(logger, "desired-state sync", _backoff.Failures, ex is TaskCanceledException ? "timeout" : ex.Message, wait.TotalMilliseconds);
            return wait;
        }

        _backoff.Reset();
        return _options.PollInterval;
    }

    /// <summary>False when the credential was refused.</summary>
    private async Task<bool> PollAsync(FleetCredentials credentials, CancellationToken cancellationToken)
    {
        using var request = FleetLink.Request(HttpMethod.Get, credentials, FleetRoutes.Desired);
        if (outbox.GetState(EtagKey) is { } etag && EntityTagHeaderValue.TryParse(etag, out var tag))
        {
            request.Headers.IfNoneMatch.Add(tag);
        }

        using var response = await link.Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        switch (response.StatusCode)
        {
            case HttpStatusCode.NotModified:
                return true;
            case HttpStatusCode.OK:
                var desired = await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.DesiredState, cancellationToken).ConfigureAwait(false)
                    ?? throw new JsonException("the desired state is null");
                outbox.SetState(DesiredKey, JsonSerializer.Serialize(desired, FleetJsonContext.Default.DesiredState));
                if (response.Headers.ETag is { } newTag)
                {
                    outbox.SetState(EtagKey, newTag.ToString());
                }

                _desired = desired;
                ApplyPolicy();
                return true;
            case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                link.MarkRefused(credentials, response.StatusCode);
                return false;
            default:
                throw new HttpRequestException($"HTTP {(int)response.StatusCode}", null, response.StatusCode);
        }
    }

    private async Task<bool> ReportAsync(FleetCredentials credentials, CancellationToken cancellationToken)
    {
        var report = Reported();
        var json = JsonSerializer.Serialize(report, FleetJsonContext.Default.ReportedState);
        var now = time.GetUtcNow();
        if (json == _lastReport && now - _lastReportAt < ReportEvery)
        {
            return true;
        }

        using var request = FleetLink.Request(HttpMethod.Put, credentials, FleetRoutes.Reported);
        request.Content = JsonContent.Create(report, FleetJsonContext.Default.ReportedState);
        using var response = await link.Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            link.MarkRefused(credentials, response.StatusCode);
            return false;
        }

        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"HTTP {(int)response.StatusCode}", null, response.StatusCode);
        }

        (_lastReport, _lastReportAt) = (json, now);
        return true;
    }

    /// <summary>What the device runs. The applied revision is the newest desired one whose model, adapters and config bundle it already runs.</summary>
    internal ReportedState Reported()
    {
        var status = probe.Status();
        var running = status.Model is { } m ? new ArtifactRef { Name = m.Id, Version = m.Version } : null;
        var desired = _desired;
        var adapter = Updates?.Adapter;
        var configBundle = Updates?.ConfigBundle;
        var matches = Same(DesiredAdapter, adapter) && Same(DesiredConfig, configBundle) && (desired.Model is null || (running is not null && desired.Model.Name == running.Name && desired.Model.Version == running.Version));
        var applied = long.TryParse(outbox.GetState(AppliedKey), NumberStyles.None, CultureInfo.InvariantCulture, out var a) ? a : 0;
        if (matches && desired.Revision > applied)
        {
            applied = desired.Revision;
            outbox.SetState(AppliedKey, applied.ToString(CultureInfo.InvariantCulture));
        }
        else if (!matches && desired.Revision != _loggedRevision)
        {
            _loggedRevision = desired.Revision;
            FleetLog.DesiredModelDiffers(logger, desired.Revision, desired.Model is { } w ? $"{w.Name} {w.Version}" : "none",
                running is null ? "no model" : $"{running.Name} {running.Version}");
        }

        IReadOnlyList<string> errors = Updates is { } updates ? [.. updates.Errors.Concat(requests.RecentErrors()).Take(10)] : requests.RecentErrors();
        return new ReportedState
        {
            AppliedRevision = applied,
            Model = running,
            Adapters = adapter is null ? [] : [adapter],
            ConfigBundle = configBundle,
            AgentVersion = status.Version,
            Health = status.Model is null || errors.Any(e => e.EndsWith(Contracts.Mqtt.ErrorCodes.Internal, StringComparison.Ordinal)) ? "degraded" : "ok",
            State = Updates?.InProgress ?? status.State,
            Errors = errors,
        };
    }

    /// <summary>Whether the device runs <paramref name="wanted"/> (nothing wanted always matches).</summary>
    private static bool Same(ArtifactRef? wanted, ArtifactRef? running) =>
        wanted is null || (running is not null && running.Name == wanted.Name && running.Version == wanted.Version);

    /// <summary>Takes the fleet's half of the query-log policy; withdrawing it deletes entries not yet uploaded.</summary>
    private void ApplyPolicy()
    {
        policy.FleetAllows = _desired.QueryLogUpload;
        var allowed = policy.Allowed;
        if (_lastAllowed == allowed)
        {
            return;
        }

        if (_lastAllowed is not null || allowed)
        {
            FleetLog.QueryLogPolicyChanged(logger, allowed ? "ON" : "off", policy.Local, policy.FleetAllows, policy.QueryLogKept);
        }

        if (!allowed)
        {
            var purged = outbox.Purge(TelemetryKinds.Query);
            if (purged > 0)
            {
                FleetLog.QueryLogPurged(logger, purged);
            }
        }

        _lastAllowed = allowed;
    }
}
