namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// Exponential backoff with full jitter: after the n-th failure in a row the wait is uniform in [0, min(max, min × 2^(n-1))],
/// so a fleet coming back after a server outage spreads out instead of retrying in lock step.
/// </summary>
internal sealed class Backoff(TimeSpan min, TimeSpan max, Random random)
{
    /// <summary>Failures in a row.</summary>
    public int Failures { get; private set; }

    /// <summary>The largest wait the current failure count allows.</summary>
    public TimeSpan Ceiling => Failures == 0
        ? TimeSpan.Zero
        : TimeSpan.FromMilliseconds(Math.Min(max.TotalMilliseconds, min.TotalMilliseconds * Math.Pow(2, Math.Min(Failures - 1, 40))));

    /// <summary>Counts a failure and returns the wait before the next attempt.</summary>
    public TimeSpan Next()
    {
        Failures++;
        return TimeSpan.FromMilliseconds(random.NextDouble() * Ceiling.TotalMilliseconds);
    }

    public void Reset() => Failures = 0;
}
