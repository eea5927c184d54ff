using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>
/// Steps every running rollout every <see cref="RolloutOptions.RolloutStepSeconds"/> (on the injected clock), and at once
/// when a device reports a new state (<see cref="RolloutTrigger"/>).
/// </summary>
internal sealed class RolloutLoop(RolloutEngine engine, RolloutTrigger trigger, TimeProvider time, IOptions<RolloutOptions> options, ILogger<RolloutLoop> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromSeconds(options.Value.RolloutStepSeconds);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await engine.StepAllAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    RolloutLog.StepFailed(logger, ex);
                }

                await trigger.WaitAsync(period, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }
}
