using EdgeLlm.Agent.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// Every Fleet:SampleIntervalSeconds queues the device's metrics in the outbox: requests, latency p50/p95/p99 and tokens/s
/// of the answers since the last sample, errors by code, queue depth, thermal zones, memory and disk. At start it queues
/// <c>agent_started</c> and <c>model_loaded</c> (or <c>retrieval_only</c>); at stop, a last sample. It samples whether or
/// not the device is enrolled, so telemetry from before enrollment or during an outage is uploaded later.
/// </summary>
internal sealed class TelemetrySampler(Outbox outbox, RequestTelemetry requests, IDeviceProbe probe, IOptions<FleetOptions> options, TimeProvider time) : AgentService
{
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var status = probe.Status();
        var started = OutboxEntry.Event(now, "agent_started", RequestTelemetry.Json(w =>
        {
            w.WriteString("version", status.Version);
            w.WriteString("state", status.State);
        }));
        var model = status.Model is { } m
            ? OutboxEntry.Event(now, "model_loaded", RequestTelemetry.Json(w =>
            {
                w.WriteString("id", m.Id);
                w.WriteString("version", m.Version);
                w.WriteString("provider", status.Provider);
            }))
            : OutboxEntry.Event(now, "retrieval_only", RequestTelemetry.Json(w => w.WriteString("reason", probe.UnavailableReason)));
        outbox.Enqueue([started, model]);
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Step();
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(options.Value.SampleInterval, time, stoppingToken).ConfigureAwait(false);
            Step();
        }
    }

    /// <summary>Queues one sample, timestamped now.</summary>
    public void Step()
    {
        var now = time.GetUtcNow();
        var sample = requests.TakeSample();
        var entries = new List<OutboxEntry>
        {
            OutboxEntry.Metric(now, "requests", sample.Requests, RequestTelemetry.Json(w => w.WriteNumber("errors", sample.Errors.Values.Sum()))),
        };
        if (sample.LatenciesMs.Count > 0)
        {
            var sorted = sample.LatenciesMs.Order().ToArray();
            var count = RequestTelemetry.Json(w => w.WriteNumber("count", sorted.Length));
            entries.Add(OutboxEntry.Metric(now, "latency_p50_ms", Percentile(sorted, 50), count));
            entries.Add(OutboxEntry.Metric(now, "latency_p95_ms", Percentile(sorted, 95), count));
            entries.Add(OutboxEntry.Metric(now, "latency_p99_ms", Percentile(sorted, 99), count));
        }

        if (sample.TokensPerSecond.Count > 0)
        {
            entries.Add(OutboxEntry.Metric(now, "tokens_per_s", Math.Round(sample.TokensPerSecond.Average(), 2),
                RequestTelemetry.Json(w => w.WriteNumber("count", sample.TokensPerSecond.Count))));
        }

        foreach (var (code, n) in sample.Errors.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            entries.Add(OutboxEntry.Metric(now, "errors", n, RequestTelemetry.Json(w => w.WriteString("code", code))));
        }

        entries.Add(OutboxEntry.Metric(now, "queue_depth", probe.Status().QueueDepth));
        foreach (var (sensor, celsius) in probe.Temperatures())
        {
            entries.Add(OutboxEntry.Metric(now, "temperature_c", celsius, RequestTelemetry.Json(w => w.WriteString("sensor", sensor))));
        }

        if (probe.MemoryAvailableBytes() is { } available)
        {
            entries.Add(OutboxEntry.Metric(now, "memory_available_bytes", available));
        }

        entries.Add(OutboxEntry.Metric(now, "process_working_set_bytes", probe.ProcessWorkingSetBytes()));
        if (probe.DiskFreeBytes() is { } free)
        {
            entries.Add(OutboxEntry.Metric(now, "disk_free_bytes", free));
        }

        outbox.Enqueue(entries);
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    internal static double Percentile(double[] sorted, int p) =>
        Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Length) - 1, 0, sorted.Length - 1)], 3);
}
