using System.Globalization;
using EdgeLlm.Agent.Mqtt;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Hosting;

/// <summary>
/// systemd's notify protocol beyond what <c>UseSystemd()</c> does: READY=1 and STOPPING=1 when the agent runs with a
/// NOTIFY_SOCKET but was not started by systemd itself (then <c>UseSystemd()</c>'s lifetime stays out), and watchdog
/// pings at half of WATCHDOG_USEC while the broker supervisor and the request loop are alive. READY=1 comes after every
/// hosted service has started: the model is loaded (or retrieval-only settled) and the broker is connected.
/// </summary>
internal sealed class SystemdNotifications(ISystemdNotifier notifier, MqttConnection connection, RequestDispatcher dispatcher,
    TimeProvider time, ILogger<SystemdNotifications> logger) : AgentService, IHostedLifecycleService
{
    private static readonly ServiceState Watchdog = new("WATCHDOG=1");
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private bool OwnLifetime => notifier.IsEnabled && !SystemdHelpers.IsSystemdService();

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (OwnLifetime)
        {
            notifier.Notify(ServiceState.Ready);
        }

        _started.TrySetResult();
        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (OwnLifetime)
        {
            notifier.Notify(ServiceState.Stopping);
        }

        return Task.CompletedTask;
    }

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The ping period: half of WATCHDOG_USEC when it is set for this process, else null.</summary>
    internal static TimeSpan? WatchdogPeriod()
    {
        var pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (pid is not null && pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
        {
            return null;
        }

        return long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) && usec > 0
            ? TimeSpan.FromMicroseconds(usec / 2.0)
            : null;
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        if (!notifier.IsEnabled || WatchdogPeriod() is not { } period)
        {
            return;
        }

        try
        {
            // Pings start once every service has started (and READY=1 is out).
            await _started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            Log.WatchdogEnabled(logger, period.TotalMilliseconds);
            while (!stoppingToken.IsCancellationRequested)
            {
                if (connection.Supervising && dispatcher.Running)
                {
                    notifier.Notify(Watchdog);
                }
                else
                {
                    Log.WatchdogUnhealthy(logger, connection.Supervising, dispatcher.Running);
                }

                await Task.Delay(period, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
