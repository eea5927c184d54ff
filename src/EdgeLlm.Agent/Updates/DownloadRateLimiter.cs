namespace EdgeLlm.Agent.Updates;

/// <summary>
/// A token bucket on bytes: it holds at most <c>burst</c> bytes and refills at <c>bytesPerSecond</c>, measured on the
/// <see cref="TimeProvider"/> (so tests move time instead of waiting). A rate of 0 lets everything through.
/// </summary>
internal sealed class DownloadRateLimiter(long bytesPerSecond, int burst, TimeProvider time)
{
    private double _tokens = burst;
    private long _stamp = time.GetTimestamp();

    /// <summary>Largest single request: the bucket's size.</summary>
    public int Burst => burst;

    public bool Unlimited => bytesPerSecond <= 0;

    /// <summary>Waits until <paramref name="bytes"/> (at most <see cref="Burst"/>) may pass, then takes them.</summary>
    public async ValueTask TakeAsync(int bytes, CancellationToken cancellationToken)
    {
        if (Unlimited)
        {
            return;
        }

        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, burst);
        while (true)
        {
            var now = time.GetTimestamp();
            _tokens = Math.Min(burst, _tokens + (time.GetElapsedTime(_stamp, now).TotalSeconds * bytesPerSecond));
            _stamp = now;
            if (_tokens >= bytes)
            {
                _tokens -= bytes;
                return;
            }

            // Rounded up to a whole millisecond so the wait never ends just short of enough tokens.
            var wait = TimeSpan.FromMilliseconds(Math.Ceiling((bytes - _tokens) * 1000 / bytesPerSecond));
            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }
    }
}
