using System.Threading.RateLimiting;
using EdgeLlm.Fleet.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Api;

/// <summary>A token bucket per device for telemetry batches (<see cref="FleetOptions.TelemetryBatchesPerMinute"/>, <see cref="FleetOptions.TelemetryBurst"/>).</summary>
internal sealed class TelemetryRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;

    public TelemetryRateLimiter(IOptions<FleetOptions> options)
    {
        var o = options.Value;
        // One token every (60 s / rate) keeps the average; the bucket size is the burst.
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, TimeSpan.TicksPerMinute / o.TelemetryBatchesPerMinute));
        _limiter = PartitionedRateLimiter.Create<string, string>(deviceId => RateLimitPartition.GetTokenBucketLimiter(deviceId, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = o.TelemetryBurst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = period,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>Null when the batch may go ahead; else the seconds to wait (at least 1).</summary>
    public int? TryAcquire(string deviceId)
    {
        using var lease = _limiter.AttemptAcquire(deviceId);
        if (lease.IsAcquired)
        {
            return null;
        }

        return lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
    }

    public void Dispose() => _limiter.Dispose();
}
