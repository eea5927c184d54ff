using Microsoft.Extensions.Hosting;

namespace EdgeLlm.Agent.Hosting;

/// <summary>
/// A background loop of the agent. On .NET 10 a failing <see cref="BackgroundService"/> stops the host with exit code 0,
/// which systemd's <c>Restart=on-failure</c> would take for a clean stop: a failure here sets a non-zero exit code first.
/// </summary>
internal abstract class AgentService : BackgroundService
{
    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        catch
        {
            Environment.ExitCode = 1;
            throw;
        }
    }

    /// <summary>The loop; it returns or throws <see cref="OperationCanceledException"/> when <paramref name="stoppingToken"/> fires.</summary>
    protected abstract Task RunAsync(CancellationToken stoppingToken);
}
