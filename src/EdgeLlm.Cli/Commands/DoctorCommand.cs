using System.CommandLine;
using System.Globalization;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Knowledge;
using EdgeLlm.Cli.Doctor;
using Microsoft.Extensions.Configuration;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm doctor`: what this machine offers the agent (CPU, memory, accelerators, ONNX Runtime) and how fast it runs a model.</summary>
internal static class DoctorCommand
{
    /// <summary>Exit code for a bad command line; 1 means the agent cannot run on this machine.</summary>
    public const int UsageError = 2;

    public static Command Build()
    {
        var config = CommonOptions.Config();
        var dataDir = CommonOptions.DataDir();
        var shape = new Option<string?>("--shape")
        {
            Description = $"Model shape to benchmark: {string.Join(", ", HardwareCheck.DeviceShapes.Select(s => s.Name))}. " +
                $"Default: the active model's shape, else {HardwareCheck.DefaultShape}.",
        };
        var noBench = new Option<bool>("--no-bench") { Description = "Skip synthesizing and benchmarking a model." };
        var json = CommonOptions.Json();
        var cmd = new Command("doctor", "Report this machine's CPU, memory, accelerators, ONNX Runtime, which model shapes fit, and measured tokens/s.")
        {
            config, dataDir, shape, noBench, json,
        };
        cmd.SetAction((parse, ct) =>
        {
            var asJson = parse.GetValue(json);
            if (parse.GetValue(shape) is { } name && HardwareCheck.FindShape(name) is null)
            {
                return Task.FromResult(CliOutput.Error(asJson, "invalid_argument", HardwareCheck.UnknownShape(name), UsageError));
            }

            return CliOutput.RunAsync(asJson, async () =>
            {
                var configuration = DevicePaths.Configuration(parse, config);
                var agent = new AgentOptions();
                configuration.GetSection(AgentOptions.Section).Bind(agent);
                var manuals = new ManualsOptions();
                configuration.GetSection(ManualsOptions.Section).Bind(manuals);
                var settings = new DoctorSettings
                {
                    DataDir = DevicePaths.DataDir(parse, dataDir, config),
                    ContextTokens = agent.MaxTokens + manuals.ContextTokens + HardwareCheck.PromptAllowanceTokens,
                    Concurrency = agent.MaxConcurrency,
                    Threads = agent.Threads,
                    Shape = parse.GetValue(shape),
                    Bench = !parse.GetValue(noBench),
                };
                var progress = asJson ? null : new Progress<string>(m => Console.Error.WriteLine($"doctor: {m}"));
                var report = await HardwareCheck.RunAsync(settings, progress, ct).ConfigureAwait(false);
                if (asJson)
                {
                    CliOutput.WriteJson(report);
                }
                else
                {
                    Write(report);
                }

                return report.CanRun ? 0 : 1;
            });
        });
        return cmd;
    }

    private static void Write(DoctorReport r)
    {
        static string Mib(long bytes) => HardwareCheck.Mib(bytes) + " MiB";
        static string List(IReadOnlyList<string> items) => items.Count == 0 ? "none" : string.Join(", ", items);
        void Section(string name, string verdictKey, params string[] lines)
        {
            Console.WriteLine($"[{name}] {r.Verdicts[verdictKey]}");
            foreach (var line in lines)
            {
                Console.WriteLine($"  {line}");
            }

            Console.WriteLine();
        }

        var c = r.Cpu;
        Section("cpu", "cpu",
            $"architecture    {c.Architecture}, {c.LogicalCores} logical cores, {c.PhysicalCores} physical",
            $"model           {c.Model ?? "(not stated in /proc/cpuinfo)"}",
            $"features        {string.Join(" ", c.Features.Select(f => f.Value ? f.Key : $"-{f.Key}"))}");
        var m = r.Memory;
        Section("memory", "memory",
            $"total           {Mib(m.TotalBytes)}, available {Mib(m.AvailableBytes)}, cgroup limit {(m.CgroupLimitBytes is { } l ? Mib(l) : "none")}",
            $"model budget    {Mib(m.BudgetBytes)} ({m.ContextTokens}-token context x {m.Concurrency} sequence(s), {Mib(ShapeFit.RuntimeOverhead)} runtime overhead)");
        Section("disk", "disk", $"data directory  {r.Disk.DataDir}: {Mib(r.Disk.FreeBytes)} free of {Mib(r.Disk.TotalBytes)} (at {r.Disk.MeasuredAt})");
        Section("jetson", "jetson", r.Jetson is not { } j ? [] :
        [
            $"L4T             {j.Release ?? "?"} revision {j.Revision ?? "?"}, board {j.Board ?? "?"}",
            $"CUDA libraries  {List(j.CudaLibraries)}",
            $"device nodes    {List(j.DeviceNodes)}",
        ]);
        Section("npu", "npu", $"device nodes    {List(r.Npu.DeviceNodes)}");
        Console.WriteLine("[devices]");
        Console.WriteLine($"  gpio            {List(r.Devices.GpioChips)}");
        Console.WriteLine($"  i2c             {List(r.Devices.I2cBuses)}");
        Console.WriteLine($"  iio             {List(r.Devices.IioDevices)}");
        Console.WriteLine();
        var o = r.OnnxRuntime;
        Section("onnxruntime", "onnxruntime",
            $"version         {o.Version ?? "-"}",
            $"providers       {string.Join(", ", o.Providers.Select(p => $"{p.Name} ({p.Device})"))}",
            $"EP libraries    {List(o.ProviderLibraries)}");
        Section("shapes", "memory", r.Shapes.Select(s =>
            $"{s.Name,-15} {s.Verdict,-13} {Mib(s.TotalBytes),10} = weights {Mib(s.WeightBytes)} + KV {Mib(s.KvCacheBytes)} ({s.ContextTokens} tokens) + {Mib(s.OverheadBytes)}").ToArray());
        if (r.Bench is { Skipped: null } b)
        {
            Section("bench", "bench",
                $"shape           {b.Shape} (synthesized, {b.Provider}, {b.Threads} threads)",
                $"prefill         {b.PrefillTokensPerSecond.ToString("F1", CultureInfo.InvariantCulture)} tokens/s ({b.PromptTokens}-token prompt)",
                $"decode          {b.DecodeTokensPerSecond.ToString("F2", CultureInfo.InvariantCulture)} tokens/s ({b.GeneratedTokens} tokens)",
                $"first token     {b.TimeToFirstTokenMs.ToString("F0", CultureInfo.InvariantCulture)} ms, peak RSS {Mib(b.PeakRssBytes)}");
        }
        else
        {
            Section("bench", "bench");
        }

        Console.WriteLine(r.CanRun ? "verdict: the agent can run on this machine" : "verdict: the agent cannot run on this machine");
    }
}
