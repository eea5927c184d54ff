namespace EdgeLlm.Agent.Mqtt;

/// <summary>A wake-up for one waiting loop: any number of <see cref="Set"/> calls before the next wait count as one.</summary>
internal sealed class Signal : IDisposable
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    public void Set()
    {
        if (_semaphore.CurrentCount == 0)
        {
            try
            {
                _semaphore.Release();
            }
            catch (SemaphoreFullException)
            {
                // Set twice at the same moment: the one pending wake-up serves both.
            }
        }
    }

    public Task WaitAsync(CancellationToken cancellationToken) => _semaphore.WaitAsync(cancellationToken);

    public void Dispose() => _semaphore.Dispose();
}
