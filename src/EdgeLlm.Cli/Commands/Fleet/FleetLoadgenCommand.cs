using System.CommandLine;
using System.Globalization;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>`edgellm fleet loadgen`: simulated devices against a real fleet server, stage by stage, to find the knee.</summary>
internal static class FleetLoadgenCommand
{
    public static Command Build(FleetConnection connection)
    {
        var devices = new Option<int?>("--devices") { Description = "Simulated devices (one stage)." };
        var steps = new Option<string?>("--steps") { Description = "Consecutive stages by device count, e.g. 1000,2500,5000,10000 (instead of --devices)." };
        var period = new Option<double>("--period") { Description = "A device's real period in seconds between desired-state polls and telemetry batches.", DefaultValueFactory = _ => 60 };
        var scale = new Option<double>("--time-scale") { Description = "Time compression: devices act every period/time-scale seconds (10 → N devices load the server like 10·N).", DefaultValueFactory = _ => 1 };
        var duration = new Option<double>("--duration") { Description = "Measured seconds per stage (after the warm-up).", DefaultValueFactory = _ => 30 };
        var warmup = new Option<double>("--warmup") { Description = "Unmeasured seconds at the start of each stage.", DefaultValueFactory = _ => 5 };
        var items = new Option<int>("--batch-items") { Description = "Telemetry items per batch (1 to 1000).", DefaultValueFactory = _ => 20 };
        var concurrency = new Option<int>("--concurrency") { Description = "Enrollments in flight at once.", DefaultValueFactory = _ => 32 };
        var connections = new Option<int>("--connections") { Description = "HTTP connections to the server at most (one shared client).", DefaultValueFactory = _ => 512 };
        var limit = new Option<double>("--p99-limit-ms") { Description = "The knee is the first stage whose p99 passes this, or that has errors or falls behind.", DefaultValueFactory = _ => 200 };
        var watch = new Option<string[]>("--watch") { Description = "NAME=PID of a process whose CPU use (with its children) to report per stage (repeatable).", AllowMultipleArgumentsPerToken = false };
        var cmd = new Command("loadgen", "Simulate devices against a fleet server: each polls desired state and posts a telemetry batch every period; reports latency percentiles and errors per stage.")
        {
            devices, steps, period, scale, duration, warmup, items, concurrency, connections, limit, watch,
        };
        connection.SetAction(cmd, async (parse, client, ct) =>
        {
            var options = new LoadgenOptions
            {
                Stages = Stages(parse.GetValue(devices), parse.GetValue(steps)),
                PeriodSeconds = parse.GetValue(period),
                TimeScale = parse.GetValue(scale),
                DurationSeconds = parse.GetValue(duration),
                WarmupSeconds = parse.GetValue(warmup),
                BatchItems = parse.GetValue(items),
                Concurrency = parse.GetValue(concurrency),
                Connections = parse.GetValue(connections),
                P99LimitMs = parse.GetValue(limit),
                Watch = Watches(parse.GetValue(watch) ?? []),
            };
            Validate(options);
            var result = await new FleetLoadGenerator(options, TimeProvider.System).RunAsync(client, ct).ConfigureAwait(false);
            if (parse.GetValue(connection.Json))
            {
                CliOutput.WriteJson(result);
            }
            else
            {
                Console.Write(Describe(result));
            }
        });
        return cmd;
    }

    internal static IReadOnlyList<int> Stages(int? devices, string? steps) => (devices, steps) switch
    {
        (null, null) => throw new ArgumentException("give --devices N or --steps N1,N2,…"),
        ({ }, { }) => throw new ArgumentException("give either --devices or --steps, not both"),
        ({ } n, null) => n >= 1 ? [n] : throw new ArgumentException($"--devices {n}: give at least 1"),
        (null, { } s) => FleetArguments.ParseCounts(s, "--steps"),
    };

    internal static IReadOnlyDictionary<string, int> Watches(IEnumerable<string> values)
    {
        var result = new Dictionary<string, int>();
        foreach (var value in values)
        {
            var eq = value.IndexOf('=');
            if (eq < 1 || !int.TryParse(value[(eq + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid < 1)
            {
                throw new ArgumentException($"--watch '{value}' is not NAME=PID");
            }

            result[value[..eq]] = pid;
        }

        return result;
    }

    internal static void Validate(LoadgenOptions o)
    {
        Check(o.Stages.All(n => n <= 200_000), "--devices/--steps: at most 200000 devices");
        Check(o.PeriodSeconds is > 0 and <= 86_400, "--period: give 0 to 86400 seconds");
        Check(o.TimeScale is > 0 and <= 10_000, "--time-scale: give more than 0, at most 10000");
        Check(o.Interval >= TimeSpan.FromMilliseconds(50), "--period / --time-scale must leave at least 50 ms between a device's requests");
        Check(o.DurationSeconds is >= 1 and <= 3_600, "--duration: give 1 to 3600 seconds");
        Check(o.WarmupSeconds is >= 0 and <= 600, "--warmup: give 0 to 600 seconds");
        Check(o.BatchItems is >= 1 and <= 1000, "--batch-items: give 1 to 1000");
        Check(o.Concurrency is >= 1 and <= 1024, "--concurrency: give 1 to 1024");
        Check(o.Connections is >= 1 and <= 10_000, "--connections: give 1 to 10000");
        Check(o.P99LimitMs > 0, "--p99-limit-ms: give more than 0");
    }

    internal static string Describe(LoadgenResult r)
    {
        var header = $"{r.Server}: each device polls desired state and posts {r.BatchItems} telemetry items every {r.IntervalS:0.###} s "
            + $"(period {r.PeriodS:0.###} s / time scale {r.TimeScale:0.###}); {r.StageSeconds:0.#} s measured per stage after {r.WarmupSeconds:0.#} s warm-up\n";
        var rows = r.Stages.Select(s => (IReadOnlyList<string>)
        [
            s.Devices.ToString(CultureInfo.InvariantCulture), s.RealTimeEquivalentDevices.ToString(CultureInfo.InvariantCulture), s.TargetRatePerS.ToString("0.#", CultureInfo.InvariantCulture),
            Line(s.Desired), Line(s.Telemetry), (s.Desired.Errors + s.Telemetry.Errors).ToString(CultureInfo.InvariantCulture),
            $"{s.Cpu.MachineBusyPercent:0}% of {s.Cpu.Cores}; loadgen {s.Cpu.LoadgenPercent:0}%" + string.Concat(s.Cpu.WatchedPercent.Select(w => $", {w.Key} {w.Value:0}%")),
        ]);
        var table = FleetTable.Format(["DEVICES", "REAL-TIME EQ.", "TARGET/S", "DESIRED /s p50/p95/p99/max ms", "TELEMETRY /s p50/p95/p99/max ms", "ERRORS", "CPU"], rows);
        var knee = r.Knee is { } k
            ? $"knee: {k.Devices} devices ({k.RealTimeEquivalentDevices} real-time equivalent): {k.Reason}\n"
            : $"no knee: every stage kept p99 ≤ {r.P99LimitMs:0} ms with no errors\n";
        return header + table + knee;
    }

    private static string Line(RequestSummary s) => string.Create(CultureInfo.InvariantCulture, $"{s.RatePerS:0.#}  {s.P50Ms:0.0}/{s.P95Ms:0.0}/{s.P99Ms:0.0}/{s.MaxMs:0}");

    private static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new ArgumentException(message);
        }
    }
}
