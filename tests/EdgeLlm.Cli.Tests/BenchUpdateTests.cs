using EdgeLlm.Cli.Commands;

namespace EdgeLlm.Cli.Tests;

/// <summary>How `edgellm bench-update` turns an update's events and memory samples into its figures.</summary>
public sealed class BenchUpdateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset At(double seconds) => T0.AddSeconds(seconds);

    private static ObservedEvent Event(string state, double at, double? agentCpu = null, double? serverCpu = null) =>
        new(state, null, At(at), At(at + 0.002), agentCpu, serverCpu);

    private static readonly ObservedEvent[] Events =
    [
        Event("downloading 0%", 10, 1.0, 5.0),
        Event("downloading 1%", 10.5),
        Event("downloading 2%", 11),
        Event("downloading 100%", 12),
        Event("verifying", 12.25, 3.0, 6.5),
        Event("unpacking", 14),
        Event("loading", 14.25, 5.5, 6.6),
        Event("smoke_test", 16.25),
        Event("active", 16.75, 9.0, 6.7),
    ];

    private static MemorySample Sample(double at, long rssMib, long anonMib = 20, long fileMib = 60) =>
        new(At(at), rssMib * 1024, anonMib * 1024, fileMib * 1024);

    [Fact]
    public void Phases_follow_the_agents_timestamps_not_the_arrival()
    {
        Assert.Equal(UpdatePhase.Waiting, UpdateTimeline.PhaseAt(Events, At(9.9)));
        Assert.Equal(UpdatePhase.Download, UpdateTimeline.PhaseAt(Events, At(10)));
        Assert.Equal(UpdatePhase.Download, UpdateTimeline.PhaseAt(Events, At(12.2)));
        Assert.Equal(UpdatePhase.VerifyUnpack, UpdateTimeline.PhaseAt(Events, At(14.1)));
        Assert.Equal(UpdatePhase.Load, UpdateTimeline.PhaseAt(Events, At(16.5)));
        Assert.Equal(UpdatePhase.Active, UpdateTimeline.PhaseAt(Events, At(20)));
    }

    [Fact]
    public void Summarize_gives_durations_throughput_cpu_and_growth_over_the_idle_median()
    {
        MemorySample[] samples =
        [
            Sample(1, 100), Sample(2, 104), Sample(3, 101), // idle: median 101
            Sample(9, 102),
            Sample(10.5, 110), Sample(11.5, 108),
            Sample(13, 121), Sample(14.1, 115),
            Sample(15, 480, anonMib: 300, fileMib: 180),
            Sample(17, 520),
        ];

        var r = UpdateTimeline.Summarize("m@2.0.0", 42, 400L * 1024 * 1024, Events, samples, ready: At(3), (130.0, 500.0), null, 100);

        Assert.Equal((2.25, 2.0, 1.75, 0.25, 2.0, 0.5, 6.75),
            (r.Seconds.DownloadS, r.Seconds.VerifyUnpackS, r.Seconds.VerifyS, r.Seconds.MoveS, r.Seconds.LoadS, r.Seconds.SmokeTestS, r.Seconds.DownloadToActiveS));
        Assert.Equal(177.8, r.DownloadMibPerS);
        Assert.Equal(94.1, r.DownloadVerifyUnpackMibPerS);
        Assert.Equal(101, r.BaselineRssMib);
        Assert.Equal(20, r.GrowthDownloadVerifyUnpackMib);
        Assert.Equal(new PhaseMemory(2, 110, 20, 60, 9), r.Memory["download"]);
        Assert.Equal(new PhaseMemory(2, 121, 20, 60, 20), r.Memory["verify_unpack"]);
        Assert.Equal(new PhaseMemory(1, 480, 300, 180, 379), r.Memory["load"]);
        Assert.Equal(1, r.Memory["waiting"].Samples);
        Assert.Equal((29.0, 399.0), (r.HwmDownloadVerifyUnpackMib!.Value, r.HwmLoadMib!.Value));
        Assert.Equal(new PhaseCpu(2.0, 1.5), r.Cpu["download"]);
        Assert.Equal(new PhaseCpu(2.5, 0.1), r.Cpu["verify_unpack"]);
        Assert.Equal(new PhaseCpu(3.5, 0.1), r.Cpu["load"]);
    }

    [Fact]
    public void Condense_keeps_the_first_and_last_progress_report_and_every_other_step()
    {
        var states = UpdateTimeline.Condense(Events).Select(e => e.State);

        Assert.Equal(["downloading 0%", "downloading 100%", "verifying", "unpacking", "loading", "smoke_test", "active"], states);
        Assert.All(UpdateTimeline.Condense(Events), e => Assert.Equal(2, e.DeliveryMs));
    }

    [Fact]
    public void ProcStatus_reads_the_resident_set_figures_in_KiB()
    {
        const string status = "Name:\tedgellm\nVmPeak:\t 3000000 kB\nVmHWM:\t  140000 kB\nVmRSS:\t  120000 kB\nRssAnon:\t   30000 kB\nRssFile:\t   88000 kB\nRssShmem:\t    2000 kB\nThreads:\t24\n";

        Assert.Equal(new ProcStatus.Figures(120000, 30000, 88000, 140000), ProcStatus.Parse(status));
    }
}
