using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// Runs <see cref="UpdateCoordinatorOptions.StateScript"/> for every update event, on the update's own flow (the events
/// are reported before each step's work starts, so the step waits for the script). Download progress is not passed on:
/// it would run the script for every percent.
/// </summary>
internal sealed class UpdateStateScript(ActivationEventLog log, IOptions<UpdateCoordinatorOptions> options, ILogger<UpdateStateScript> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.StateScript is not null)
        {
            log.Reported += Run;
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        log.Reported -= Run;
        return Task.CompletedTask;
    }

    private void Run(ActivationEvent e)
    {
        if (e.State == UpdateStates.Downloading || options.Value.StateScript is not { } script)
        {
            return;
        }

        var start = new ProcessStartInfo(script) { UseShellExecute = false, RedirectStandardOutput = false, RedirectStandardError = false };
        start.ArgumentList.Add(e.State);
        start.ArgumentList.Add(e.Name);
        start.ArgumentList.Add(e.Version);
        start.Environment["EDGELLM_UPDATE_REASON"] = e.Reason ?? "";
        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("the process did not start");
            if (!process.WaitForExit(TimeSpan.FromSeconds(options.Value.StateScriptTimeoutSeconds)))
            {
                process.Kill(entireProcessTree: true);
                ScriptLog.TimedOut(logger, script, e.State, options.Value.StateScriptTimeoutSeconds);
            }
            else if (process.ExitCode != 0)
            {
                ScriptLog.Failed(logger, script, e.State, process.ExitCode);
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            ScriptLog.NotRun(logger, script, e.State, ex.Message);
        }
    }
}

/// <summary>Log lines of the update state script.</summary>
internal static partial class ScriptLog
{
    [LoggerMessage(445, LogLevel.Warning, "Update state script {Script} for {State} ran longer than {Seconds} s and was killed")]
    public static partial void TimedOut(ILogger logger, string script, string state, int seconds);

    [LoggerMessage(446, LogLevel.Warning, "Update state script {Script} for {State} exited with {Code}")]
    public static partial void Failed(ILogger logger, string script, string state, int code);

    [LoggerMessage(447, LogLevel.Warning, "Update state script {Script} for {State} could not be run: {Error}")]
    public static partial void NotRun(ILogger logger, string script, string state, string error);
}
