using System.Threading.Channels;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>
/// Wakes the rollout loop early: a device reported a new state (its update finished or failed), so a stage may halt or
/// advance now instead of at the next period. Signals coalesce: any number before the loop wakes cost one step.
/// </summary>
internal sealed class RolloutTrigger
{
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Signal() => _signal.Writer.TryWrite(true);

    /// <summary>Completes at the next signal (at once when one is pending) or after <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var period = new CancellationTokenSource(timeout, time);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, period.Token);
        try
        {
            await _signal.Reader.ReadAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The period passed without a signal.
        }
    }
}
