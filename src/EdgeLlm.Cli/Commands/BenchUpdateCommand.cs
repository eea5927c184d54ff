using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Mqtt;

namespace EdgeLlm.Cli.Commands;

/// <summary>
/// `edgellm bench-update`: the measuring half of scripts/bench-update.sh (docs/benchmarks.md). Attached to a running
/// agent, it follows the agent's <c>events</c> topic, samples the agent's memory from /proc, signals (a file) when the
/// idle baseline is taken so the script sets the desired model, and asks the new model a question the moment its
/// <c>active</c> event arrives. Every duration comes from the agent's own event timestamps.
/// </summary>
internal static class BenchUpdateCommand
{
    public static Command Build()
    {
        var device = new DeviceClientOptions();
        var pid = new Option<int>("--pid") { Description = "Process id of the agent (its VmRSS, RssAnon and RssFile are read from /proc/PID/status).", Required = true };
        var serverPid = new Option<int?>("--server-pid") { Description = "Process id of the fleet server, for the CPU time each phase costs it (when it runs on this machine)." };
        var model = new Option<string>("--model") { Description = "The update to follow, as NAME@VERSION (the desired model the script sets).", Required = true };
        var bytes = new Option<long?>("--bundle-bytes") { Description = "Size of the bundle, for the download throughput." };
        var readyFile = new Option<string?>("--ready-file") { Description = "Created once the agent is ready and the idle baseline is taken: the signal to set the desired state." };
        var baseline = new Option<double>("--baseline-seconds") { Description = "Idle time sampled for the baseline memory.", DefaultValueFactory = _ => 3 };
        var interval = new Option<int>("--sample-ms") { Description = "Milliseconds between memory samples.", DefaultValueFactory = _ => 100 };
        var question = new Option<string>("--question") { Description = "The question asked when the new model is active.", DefaultValueFactory = _ => "What does error E-17 mean?" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens of that answer.", DefaultValueFactory = _ => 16 };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the agent and the whole update.", DefaultValueFactory = _ => 600 };
        var json = CommonOptions.Json();
        var cmd = new Command("bench-update", "Follow a model update on a running agent (for scripts/bench-update.sh): phase durations from its events, its memory per phase, the time from `active` to the first answer.")
        {
            pid, serverPid, model, bytes, readyFile, baseline, interval, question, maxTokens, timeout, json,
        };
        device.AddTo(cmd);
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var asJson = parse.GetValue(json);
            var wanted = parse.GetValue(model)!;
            var at = wanted.IndexOf('@', StringComparison.Ordinal);
            if (at <= 0 || at == wanted.Length - 1)
            {
                throw new ArgumentException($"--model: '{wanted}' is not NAME@VERSION");
            }

            var settings = new Settings(
                parse.GetValue(pid), parse.GetValue(serverPid), wanted[..at], wanted[(at + 1)..], parse.GetValue(bytes), parse.GetValue(readyFile),
                TimeSpan.FromSeconds(parse.GetValue(baseline)), parse.GetValue(interval), parse.GetValue(question)!, parse.GetValue(maxTokens));
            if (settings.SampleMs is < 10 or > 10_000 || settings.MaxTokens < 1 || settings.Baseline < TimeSpan.Zero)
            {
                throw new ArgumentException("--sample-ms must be 10 to 10000, --max-tokens at least 1, --baseline-seconds not negative");
            }

            if (ProcStatus.Read(settings.Pid) is null)
            {
                throw new ArgumentException($"--pid {settings.Pid}: no such process (or no /proc/{settings.Pid}/status)");
            }

            var seconds = parse.GetValue(timeout);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(TimeSpan.FromSeconds(seconds));
            var run = new Run(settings, TimeProvider.System);
            try
            {
                var result = await run.ExecuteAsync(device, parse, limit.Token).ConfigureAwait(false);
                if (asJson)
                {
                    CliOutput.WriteJson(result);
                }
                else
                {
                    Print(result);
                }

                return 0;
            }
            catch (OperationCanceledException) when (limit.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                return CliOutput.Error(asJson, "timeout", $"timed out after {seconds} s; {run.Progress}");
            }
            catch (UpdateFailedException ex)
            {
                return CliOutput.Error(asJson, "update_failed", ex.Message);
            }
        }));
        return cmd;
    }

    private static void Print(UpdateObservation r)
    {
        var s = r.Seconds;
        Console.WriteLine($"update {r.Model} on pid {r.Pid}:");
        Console.WriteLine($"  download       {s.DownloadS:F2} s ({r.DownloadMibPerS:F1} MiB/s), verify+unpack {s.VerifyUnpackS:F2} s, load {s.LoadS:F2} s, smoke test {s.SmokeTestS:F2} s");
        Console.WriteLine($"  download→active {s.DownloadToActiveS:F2} s; CPU of the download: agent {r.Cpu["download"].AgentS:F2} s, server {r.Cpu["download"].ServerS:F2} s");
        Console.WriteLine($"  RSS baseline {r.BaselineRssMib:F1} MiB; growth during download+verify+unpack {r.GrowthDownloadVerifyUnpackMib:F1} MiB (VmHWM {r.HwmDownloadVerifyUnpackMib:F1}); during load {r.Memory["load"].GrowthMib:F1} MiB");
        if (r.FirstAnswer is { } a)
        {
            Console.WriteLine($"  active→first chunk {a.ActiveToFirstChunkMs:F0} ms, active→answer {a.ActiveToAnswerMs:F0} ms (answered by {a.AnsweredBy})");
        }
    }

    private sealed record Settings(int Pid, int? ServerPid, string Name, string Version, long? BundleBytes, string? ReadyFile, TimeSpan Baseline, int SampleMs, string Question, int MaxTokens);

    private sealed class UpdateFailedException(string message) : Exception(message);

    /// <summary>One observation: the events of the wanted update, the memory samples, the first answer.</summary>
    private sealed class Run(Settings settings, TimeProvider time)
    {
        private readonly Lock _gate = new();
        private readonly List<ObservedEvent> _events = [];
        private readonly List<MemorySample> _samples = [];
        private readonly TaskCompletionSource<ObservedEvent> _final = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private double? _hwmBeforeLoad;
        private double? _hwmLoad;
        private bool _peakResettable;

        /// <summary>The last thing seen, for a timeout message.</summary>
        public string Progress
        {
            get
            {
                lock (_gate)
                {
                    return _events.Count == 0 ? "no update event yet" : $"last update event: {_events[^1].State}";
                }
            }
        }

        public async Task<UpdateObservation> ExecuteAsync(DeviceClientOptions device, ParseResult parse, CancellationToken cancellationToken)
        {
            await using var client = await ConnectAsync(device, parse, cancellationToken).ConfigureAwait(false);
            await client.FollowAsync(MqttTopics.Status(client.DeviceId), OnStatus, cancellationToken).ConfigureAwait(false);
            await client.FollowAsync(MqttTopics.Events(client.DeviceId), OnEvent, cancellationToken).ConfigureAwait(false);
            using var stopSampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var sampler = SampleAsync(stopSampling.Token);
            try
            {
                await Until(_ready.Task, sampler, cancellationToken).ConfigureAwait(false);
                await Task.Delay(settings.Baseline, time, cancellationToken).ConfigureAwait(false);
                var ready = time.GetUtcNow();
                // From here VmHWM is the peak of the update alone, read when loading starts and when the model is active.
                _peakResettable = ProcStatus.ResetPeak(settings.Pid);
                if (settings.ReadyFile is { } file)
                {
                    await File.WriteAllTextAsync(file, ready.UtcDateTime.ToString("O", CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
                }

                var active = await Until(_final.Task, sampler, cancellationToken).ConfigureAwait(false);
                if (active.State != ActivationStates.Active)
                {
                    throw new UpdateFailedException($"the update of {settings.Name} {settings.Version} ended {active.State}{(active.Reason is null ? "" : ": " + active.Reason)}");
                }

                var answer = await AskAsync(client, active, cancellationToken).ConfigureAwait(false);
                await stopSampling.CancelAsync().ConfigureAwait(false);
                await sampler.ConfigureAwait(false);
                lock (_gate)
                {
                    return UpdateTimeline.Summarize($"{settings.Name}@{settings.Version}", settings.Pid, settings.BundleBytes, [.. _events], [.. _samples], ready,
                        (_hwmBeforeLoad, _hwmLoad), answer, settings.SampleMs);
                }
            }
            finally
            {
                await stopSampling.CancelAsync().ConfigureAwait(false);
                try
                {
                    await sampler.ConfigureAwait(false);
                }
                catch (UpdateFailedException)
                {
                    // Already reported by whoever awaited it first.
                }
            }
        }

        /// <summary>The agent may still be starting its embedded broker: retry the connection until the token ends.</summary>
        private static async Task<DeviceClient> ConnectAsync(DeviceClientOptions device, ParseResult parse, CancellationToken cancellationToken)
        {
            while (true)
            {
                try
                {
                    return await device.ConnectAsync(parse, cancellationToken).ConfigureAwait(false);
                }
                catch (IOException)
                {
                    await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        /// <summary>Waits for <paramref name="task"/>; throws what the sampler threw when it ends first (the agent exited).</summary>
        private static async Task<T> Until<T>(Task<T> task, Task sampler, CancellationToken cancellationToken)
        {
            await Until((Task)task, sampler, cancellationToken).ConfigureAwait(false);
            return await task.ConfigureAwait(false);
        }

        private static async Task Until(Task task, Task sampler, CancellationToken cancellationToken)
        {
            await Task.WhenAny(task, sampler).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (!task.IsCompleted)
            {
                await sampler.ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                throw new UpdateFailedException("memory sampling stopped early");
            }

            await task.ConfigureAwait(false);
        }

        private async Task SampleAsync(CancellationToken cancellationToken)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(settings.SampleMs), time);
            try
            {
                do
                {
                    var at = time.GetUtcNow();
                    var status = ProcStatus.Read(settings.Pid) ?? throw new UpdateFailedException($"the agent (pid {settings.Pid}) exited; {Progress}");
                    lock (_gate)
                    {
                        _samples.Add(new MemorySample(at, status.RssKib, status.AnonKib, status.FileKib));
                    }
                }
                while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Sampling ends with the observation.
            }
        }

        private void OnStatus(ReadOnlySequence<byte> payload)
        {
            try
            {
                var reader = new Utf8JsonReader(payload);
                if (JsonSerializer.Deserialize(ref reader, MqttJsonContext.Default.StatusMessage) is { State: AgentStates.Ready })
                {
                    _ready.TrySetResult();
                }
            }
            catch (JsonException)
            {
                // Not a status (the last will is the plain word "offline").
            }
        }

        private void OnEvent(ReadOnlySequence<byte> payload)
        {
            var received = time.GetUtcNow();
            UpdateStateMessage? message;
            try
            {
                var reader = new Utf8JsonReader(payload);
                message = JsonSerializer.Deserialize(ref reader, UpdateJsonContext.Default.UpdateStateMessage);
            }
            catch (JsonException)
            {
                // Another kind of event.
                return;
            }

            if (message is null || message.Bundle != settings.Name || message.Version != settings.Version
                || !DateTimeOffset.TryParse(message.Ts, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var ts))
            {
                return;
            }

            var e = new ObservedEvent(message.State, message.Reason, ts, received, ProcStatus.CpuSeconds(settings.Pid),
                settings.ServerPid is { } server ? ProcStatus.CpuSeconds(server) : null);
            lock (_gate)
            {
                _events.Add(e);
            }

            if (e.State == ActivationStates.Loading && _peakResettable)
            {
                _hwmBeforeLoad = ProcStatus.Read(settings.Pid)?.HwmMib;
                ProcStatus.ResetPeak(settings.Pid);
            }
            else if (e.State == ActivationStates.Active && _peakResettable)
            {
                _hwmLoad = ProcStatus.Read(settings.Pid)?.HwmMib;
            }

            if (UpdateStates.IsFinal(e.State) || UpdateStates.IsFailure(e.State))
            {
                _final.TrySetResult(e);
            }
        }

        /// <summary>The first ask after the switch, timed from the agent's <c>active</c> event, then the same ask again for comparison.</summary>
        private async Task<FirstAnswer> AskAsync(DeviceClient client, ObservedEvent active, CancellationToken cancellationToken)
        {
            var (sent, firstChunk, total, answer) = await AskOnceAsync(client, cancellationToken).ConfigureAwait(false);
            var (_, againChunk, againTotal, again) = await AskOnceAsync(client, cancellationToken).ConfigureAwait(false);
            var sentMs = (sent - active.At).TotalMilliseconds;
            return new FirstAnswer(
                Math.Round(sentMs, 1),
                firstChunk is { } f ? Math.Round(sentMs + f, 1) : null,
                Math.Round(sentMs + total, 1),
                firstChunk is { } f2 ? Math.Round(f2, 1) : null,
                Math.Round(total, 1),
                answer.Usage.PromptTokens,
                Math.Round(answer.Usage.TtftMs, 1),
                Math.Round(answer.Usage.TotalMs, 1),
                answer.Usage.CompletionTokens,
                Math.Round(answer.Usage.TokensPerS, 1),
                $"{answer.Model.Id}@{answer.Model.Version}",
                new RepeatedAnswer(againChunk is { } c ? Math.Round(c, 1) : null, Math.Round(againTotal, 1), Math.Round(again.Usage.TtftMs, 1)));
        }

        private async Task<(DateTimeOffset Sent, double? FirstChunkMs, double AnswerMs, AnswerMessage Answer)> AskOnceAsync(DeviceClient client, CancellationToken cancellationToken)
        {
            var ask = new AskRequest { Question = settings.Question, Mode = AskModes.Chat, MaxTokens = settings.MaxTokens, Temperature = 0, Stream = true };
            var sent = time.GetUtcNow();
            var clock = Stopwatch.StartNew();
            double? firstChunk = null;
            await foreach (var reply in client.AskAsync(ask, cancellationToken).ConfigureAwait(false))
            {
                switch (reply)
                {
                    case ChunkMessage:
                        firstChunk ??= clock.Elapsed.TotalMilliseconds;
                        break;
                    case AnswerMessage answer:
                        return (sent, firstChunk, clock.Elapsed.TotalMilliseconds, answer);
                    case ErrorMessage error:
                        throw new UpdateFailedException($"an ask after the switch failed: {error.Code}: {error.Message}");
                }
            }

            throw new UpdateFailedException("the reply stream of an ask after the switch ended without an answer");
        }
    }
}

/// <summary>Memory figures of a process from /proc/PID/status (Linux).</summary>
internal static class ProcStatus
{
    internal readonly record struct Figures(long RssKib, long AnonKib, long FileKib, long HwmKib)
    {
        public double HwmMib => Math.Round(HwmKib / 1024.0, 1);
    }

    /// <summary>VmRSS, RssAnon, RssFile and VmHWM, or null when the process is gone.</summary>
    public static Figures? Read(int pid)
    {
        return ReadProcFile(pid, "status") is { } text ? Parse(text) : null;
    }

    public static Figures Parse(string status)
    {
        ArgumentNullException.ThrowIfNull(status);
        long rss = 0, anon = 0, file = 0, hwm = 0;
        foreach (var line in status.AsSpan().EnumerateLines())
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var value = line[(colon + 1)..].Trim();
            if (value.EndsWith(" kB", StringComparison.Ordinal))
            {
                value = value[..^3];
            }

            if (!long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var kib))
            {
                continue;
            }

            switch (line[..colon])
            {
                case "VmRSS":
                    rss = kib;
                    break;
                case "RssAnon":
                    anon = kib;
                    break;
                case "RssFile":
                    file = kib;
                    break;
                case "VmHWM":
                    hwm = kib;
                    break;
            }
        }

        return new Figures(rss, anon, file, hwm);
    }

    /// <summary>The text of /proc/PID/NAME, or null when the process is gone.</summary>
    private static string? ReadProcFile(int pid, string name)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/{name}");
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>User + system CPU seconds the process has used (/proc/PID/stat, in USER_HZ ticks of 1/100 s), or null when it is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        if (ReadProcFile(pid, "stat") is not { } stat)
        {
            return null;
        }

        // After "pid (comm) ": state is field 3, utime 14 and stime 15; comm may hold spaces and parentheses.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields.Length > 12
            && long.TryParse(fields[11], NumberStyles.Integer, CultureInfo.InvariantCulture, out var user)
            && long.TryParse(fields[12], NumberStyles.Integer, CultureInfo.InvariantCulture, out var system)
            ? (user + system) / 100.0
            : null;
    }

    /// <summary>Sets the process's VmHWM back to its current RSS (<c>5</c> into /proc/PID/clear_refs); false when that is not allowed.</summary>
    public static bool ResetPeak(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
