using System.Globalization;
using EdgeLlm.Agent.Updates;

namespace EdgeLlm.Cli.Commands;

/// <summary>
/// One update step as the agent published it on its <c>events</c> topic (<see cref="At"/> is the agent's clock), when it
/// arrived here, and the CPU time (user + system, seconds) the agent and the fleet server had used by then, when known.
/// </summary>
internal sealed record ObservedEvent(string State, string? Reason, DateTimeOffset At, DateTimeOffset ReceivedAt, double? AgentCpuS = null, double? ServerCpuS = null);

/// <summary>One reading of /proc/PID/status, in KiB.</summary>
internal readonly record struct MemorySample(DateTimeOffset At, long RssKib, long AnonKib, long FileKib);

/// <summary>Which part of an update a moment belongs to, by the agent's own event timestamps.</summary>
internal enum UpdatePhase
{
    /// <summary>Before the first <c>downloading</c> event: idle, or waiting for the next desired-state poll.</summary>
    Waiting,

    /// <summary><c>downloading N%</c>: HTTP, SHA-256 on the same pass, the part file and its flushes, the rename.</summary>
    Download,

    /// <summary><c>verifying</c> and <c>unpacking</c>: the bundle read once (signature, every file's size and hash) into staging, then moved into its slot.</summary>
    VerifyUnpack,

    /// <summary><c>loading</c> and <c>smoke_test</c>: the new model in a second session while the old one serves.</summary>
    Load,

    /// <summary>From <c>active</c> on: the new model serves.</summary>
    Active,
}

/// <summary>Memory figures of one phase, in MiB: the highest RSS sampled and its anonymous (heap, buffers) and file-backed (mapped weights) parts at their own peaks.</summary>
internal sealed record PhaseMemory(int Samples, double? PeakRssMib, double? PeakAnonMib, double? PeakFileMib, double? GrowthMib);

/// <summary>The first answer after the switch, timed from the agent's <c>active</c> event; <see cref="Again"/> is the same ask repeated at once.</summary>
internal sealed record FirstAnswer(
    double ActiveToAskSentMs,
    double? ActiveToFirstChunkMs,
    double ActiveToAnswerMs,
    double? AskToFirstChunkMs,
    double AskToAnswerMs,
    int PromptTokens,
    double EngineTtftMs,
    double EngineTotalMs,
    int CompletionTokens,
    double TokensPerS,
    string AnsweredBy,
    RepeatedAnswer Again);

/// <summary>The same ask right after the first answer: what a warm model (prefix cache holding the prompt's start) takes.</summary>
internal sealed record RepeatedAnswer(double? AskToFirstChunkMs, double AskToAnswerMs, double EngineTtftMs);

/// <summary>Durations between the agent's events, in seconds (null when an event is missing).</summary>
internal sealed record UpdateDurations(
    double? DownloadS,
    double? VerifyUnpackS,
    double? VerifyS,
    double? MoveS,
    double? LoadS,
    double? SmokeTestS,
    double? DownloadToActiveS);

/// <summary>CPU seconds (user + system) a phase cost the agent and the fleet server, between its first and its next phase's event.</summary>
internal sealed record PhaseCpu(double? AgentS, double? ServerS);

/// <summary>What <c>edgellm bench-update</c> prints.</summary>
internal sealed record UpdateObservation(
    string Model,
    int Pid,
    long? BundleBytes,
    double? DownloadMibPerS,
    double? DownloadVerifyUnpackMibPerS,
    UpdateDurations Seconds,
    double BaselineRssMib,
    double BaselineAnonMib,
    IReadOnlyDictionary<string, PhaseMemory> Memory,
    IReadOnlyDictionary<string, PhaseCpu> Cpu,
    double? GrowthDownloadVerifyUnpackMib,
    double? HwmDownloadVerifyUnpackMib,
    double? HwmLoadMib,
    FirstAnswer? FirstAnswer,
    IReadOnlyList<ObservedEventJson> Events,
    int SampleIntervalMs);

/// <summary>An event in the output: its state, the agent's timestamp and how long it took to arrive over MQTT.</summary>
internal sealed record ObservedEventJson(string State, string? Reason, string Ts, double DeliveryMs);

/// <summary>Turns the events and memory samples of one update into durations, throughput and per-phase memory.</summary>
internal static class UpdateTimeline
{
    public static UpdatePhase PhaseAt(IReadOnlyList<ObservedEvent> events, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(events);
        var phase = UpdatePhase.Waiting;
        foreach (var e in events)
        {
            if (e.At > at)
            {
                break;
            }

            phase = PhaseOf(e.State) ?? phase;
        }

        return phase;
    }

    /// <summary>
    /// The summary of an update observed from <paramref name="ready"/> (the end of the idle baseline; the desired state
    /// is set after it) to its <c>active</c> event. <paramref name="events"/> must be in the order published.
    /// </summary>
    public static UpdateObservation Summarize(
        string model,
        int pid,
        long? bundleBytes,
        IReadOnlyList<ObservedEvent> events,
        IReadOnlyList<MemorySample> samples,
        DateTimeOffset ready,
        (double? DownloadVerifyUnpack, double? Load) hwmMib,
        FirstAnswer? firstAnswer,
        int sampleIntervalMs)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(samples);
        DateTimeOffset? First(Func<string, bool> match) => events.FirstOrDefault(e => match(e.State))?.At;
        var downloading = First(s => s.StartsWith(UpdateStates.Downloading, StringComparison.Ordinal));
        var verifying = First(s => s == ActivationStates.Verifying);
        var unpacking = First(s => s == ActivationStates.Unpacking);
        var loading = First(s => s == ActivationStates.Loading);
        var smoke = First(s => s == ActivationStates.SmokeTest);
        var active = First(s => s == ActivationStates.Active);
        var seconds = new UpdateDurations(
            Span(downloading, verifying), Span(verifying, loading), Span(verifying, unpacking), Span(unpacking, loading),
            Span(loading, smoke), Span(smoke, active), Span(downloading, active));
        ObservedEvent? Event(Func<string, bool> match) => events.FirstOrDefault(e => match(e.State));
        var cpuMarks = new[]
        {
            Event(s => s.StartsWith(UpdateStates.Downloading, StringComparison.Ordinal)), Event(s => s == ActivationStates.Verifying),
            Event(s => s == ActivationStates.Loading), Event(s => s == ActivationStates.Active),
        };
        var cpu = new Dictionary<string, PhaseCpu>
        {
            [Name(UpdatePhase.Download)] = Cpu(cpuMarks[0], cpuMarks[1]),
            [Name(UpdatePhase.VerifyUnpack)] = Cpu(cpuMarks[1], cpuMarks[2]),
            [Name(UpdatePhase.Load)] = Cpu(cpuMarks[2], cpuMarks[3]),
        };

        var idle = samples.Where(s => s.At <= ready).ToList();
        var baseline = Median(idle.Select(s => s.RssKib));
        var baselineAnon = Median(idle.Select(s => s.AnonKib));
        var byPhase = samples.Where(s => s.At > ready).GroupBy(s => PhaseAt(events, s.At)).ToDictionary(g => g.Key, g => g.ToList());
        var memory = new Dictionary<string, PhaseMemory>();
        foreach (var phase in Enum.GetValues<UpdatePhase>())
        {
            var list = byPhase.GetValueOrDefault(phase) ?? [];
            double? peak = list.Count == 0 ? null : Mib(list.Max(s => s.RssKib));
            memory[Name(phase)] = new PhaseMemory(list.Count, peak, list.Count == 0 ? null : Mib(list.Max(s => s.AnonKib)),
                list.Count == 0 ? null : Mib(list.Max(s => s.FileKib)), peak is { } p ? Round(p - Mib(baseline)) : null);
        }

        // The ≤ 64 MB target is about bringing the bundle in, not about loading it (mapping the weights is the model).
        var beforeLoad = samples.Where(s => s.At > ready && PhaseAt(events, s.At) is UpdatePhase.Download or UpdatePhase.VerifyUnpack).ToList();
        double? growth = beforeLoad.Count == 0 ? null : Round(Mib(beforeLoad.Max(s => s.RssKib)) - Mib(baseline));
        var downloadS = seconds.DownloadS;
        var throughS = Span(downloading, loading);
        return new UpdateObservation(
            model,
            pid,
            bundleBytes,
            bundleBytes is { } b && downloadS is > 0 ? Round(b / 1048576.0 / downloadS.Value) : null,
            bundleBytes is { } b2 && throughS is > 0 ? Round(b2 / 1048576.0 / throughS.Value) : null,
            seconds,
            Mib(baseline),
            Mib(baselineAnon),
            memory,
            cpu,
            growth,
            hwmMib.DownloadVerifyUnpack is { } h1 ? Round(h1 - Mib(baseline)) : null,
            hwmMib.Load is { } h2 ? Round(h2 - Mib(baseline)) : null,
            firstAnswer,
            Condense(events),
            sampleIntervalMs);
    }

    /// <summary>The events with the download's progress reduced to its first and last report.</summary>
    public static IReadOnlyList<ObservedEventJson> Condense(IReadOnlyList<ObservedEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var list = new List<ObservedEventJson>();
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var isProgress = e.State.StartsWith(UpdateStates.Downloading, StringComparison.Ordinal);
            var previousIsProgress = i > 0 && events[i - 1].State.StartsWith(UpdateStates.Downloading, StringComparison.Ordinal);
            var nextIsProgress = i + 1 < events.Count && events[i + 1].State.StartsWith(UpdateStates.Downloading, StringComparison.Ordinal);
            if (isProgress && previousIsProgress && nextIsProgress)
            {
                continue;
            }

            list.Add(new ObservedEventJson(e.State, e.Reason, e.At.UtcDateTime.ToString("O", CultureInfo.InvariantCulture), Round((e.ReceivedAt - e.At).TotalMilliseconds)));
        }

        return list;
    }

    public static string Name(UpdatePhase phase) => phase switch
    {
        UpdatePhase.Waiting => "waiting",
        UpdatePhase.Download => "download",
        UpdatePhase.VerifyUnpack => "verify_unpack",
        UpdatePhase.Load => "load",
        _ => "active",
    };

    private static UpdatePhase? PhaseOf(string state) => state switch
    {
        _ when state.StartsWith(UpdateStates.Downloading, StringComparison.Ordinal) => UpdatePhase.Download,
        ActivationStates.Verifying or ActivationStates.Unpacking => UpdatePhase.VerifyUnpack,
        ActivationStates.Loading or ActivationStates.SmokeTest => UpdatePhase.Load,
        ActivationStates.Active or ActivationStates.Committed => UpdatePhase.Active,
        _ => null,
    };

    private static PhaseCpu Cpu(ObservedEvent? from, ObservedEvent? to) => new(
        from?.AgentCpuS is { } a0 && to?.AgentCpuS is { } a1 ? Math.Round(a1 - a0, 2) : null,
        from?.ServerCpuS is { } s0 && to?.ServerCpuS is { } s1 ? Math.Round(s1 - s0, 2) : null);

    private static double? Span(DateTimeOffset? from, DateTimeOffset? to) =>
        from is { } a && to is { } b ? Math.Round((b - a).TotalSeconds, 3) : null;

    private static double Mib(long kib) => Round(kib / 1024.0);

    private static double Round(double value) => Math.Round(value, 1);

    private static long Median(IEnumerable<long> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }
}
