using System.CommandLine;
using EdgeLlm.Sensors;
using EdgeLlm.Sensors.Benchmarks;
using EdgeLlm.Sensors.Catalog;
using EdgeLlm.Sensors.Ingestion;
using EdgeLlm.Sensors.Storage;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm sensors list|read|query|bench`: the device's sensors, live and stored.</summary>
internal static class SensorsCommand
{
    private const string DefaultConfig = "/etc/edgellm/agent.json";

    public static Command Build()
    {
        var sensors = new Command("sensors", "Sensors: list what the device knows, read one now, query stored readings, benchmark the store.");
        sensors.Add(BuildList());
        sensors.Add(BuildRead());
        sensors.Add(BuildQuery());
        sensors.Add(BuildBench());
        return sensors;
    }

    private static Command BuildList()
    {
        var common = new Common();
        var cmd = new Command("list", "List the sensors discovered under the sysfs root and declared in the configuration.");
        common.AddTo(cmd);
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(common.Json), () =>
        {
            using var live = common.Live(parse);
            if (parse.GetValue(common.Json))
            {
                CliOutput.WriteJson(new { sensors = live.Catalog.Sensors.Select(Describe) });
                return 0;
            }

            foreach (var s in live.Catalog.Sensors)
            {
                var aliases = s.Aliases.Count == 0 ? "" : $" (aka {string.Join(", ", s.Aliases)})";
                Console.WriteLine($"{s.Id,-32} {s.Source,-8} {s.Unit,-6} {s.Name}{aliases}");
            }

            if (live.Catalog.Sensors.Count == 0)
            {
                Console.Error.WriteLine("edgellm: no sensors: nothing under the sysfs root's sys/bus/iio, sys/class/hwmon or sys/class/thermal, and none configured.");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command BuildRead()
    {
        var common = new Common();
        var id = new Argument<string>("sensor") { Description = "Sensor id, name or alias (case and small typos tolerated)." };
        var cmd = new Command("read", "Read a sensor now, from sysfs or its GPIO line.") { id };
        common.AddTo(cmd);
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(common.Json), () =>
        {
            using var live = common.Live(parse);
            var sensor = Resolve(live.Catalog, parse.GetValue(id)!);
            if (!live.Polled.TryGetValue(sensor.Id, out var polled))
            {
                throw new SensorConfigException($"Sensor '{sensor.Id}' is fed over {sensor.Source}, so it cannot be read now: use `edgellm sensors query {sensor.Id}` for its stored readings.");
            }

            if (!polled.TryRead(out var value, out var reason, out var detail))
            {
                throw new SensorConfigException($"Sensor '{sensor.Id}' cannot be read ({reason}): {detail}.");
            }

            var now = TimeProvider.System.GetUtcNow();
            if (parse.GetValue(common.Json))
            {
                CliOutput.WriteJson(new { id = sensor.Id, name = sensor.Name, value, unit = sensor.Unit, timestamp = now });
            }
            else
            {
                Console.WriteLine($"{sensor.Id} ({sensor.Name}): {AlertFormat(value, sensor.Unit)}");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command BuildQuery()
    {
        var common = new Common();
        var id = new Argument<string>("sensor") { Description = "Sensor id, name or alias (case and small typos tolerated)." };
        var window = new Option<string>("--window") { Description = "How far back: 90s, 15m, 1h, 2d (default 1h).", DefaultValueFactory = _ => "1h" };
        var cmd = new Command("query", "Stored readings of a sensor over a window: latest, min, max, avg, count, trend, threshold crossings.") { id, window };
        common.AddTo(cmd);
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(common.Json), () =>
        {
            if (!SensorSummary.TryParseSpan(parse.GetValue(window)!, out var span))
            {
                throw new ArgumentException($"--window '{parse.GetValue(window)}' is not a duration: use for example 90s, 15m, 1h or 2d.");
            }

            var db = Path.Combine(DevicePaths.DataDir(parse, common.DataDir), "agent.db");
            if (!File.Exists(db))
            {
                throw new SensorConfigException($"No sensor store at {db}: the agent has not stored readings there yet; pass the device's --data-dir.");
            }

            using var live = common.Live(parse);
            using var store = SensorStore.Open(db);
            var text = parse.GetValue(id)!;

            // A sensor another configuration stored (or one whose device is unplugged now) is still queryable by exact id.
            var sensor = live.Catalog.Resolve(text)
                ?? (store.StoredSensorIds().Contains(text, StringComparer.Ordinal) ? new SensorDefinition(text, text, [], "", TimeSpan.Zero, SensorSourceKind.Mqtt) : Resolve(live.Catalog, text));
            var now = TimeProvider.System.GetUtcNow();
            var result = SensorQueryResult.Run(store, sensor, span, now);
            if (parse.GetValue(common.Json))
            {
                CliOutput.WriteJson(result);
                return 0;
            }

            Console.Write(SensorSummary.ForPrompt(store, [sensor], span, now));
            foreach (var c in result.Crossings)
            {
                Console.WriteLine($"  crossed {c.Threshold} {c.Direction} at {c.Timestamp:O} ({c.Value})");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command BuildBench()
    {
        var readings = new Option<int>("--readings") { Description = "Readings to ingest through the MQTT mapping path.", DefaultValueFactory = _ => 1_000_000 };
        var rows = new Option<long>("--rows") { Description = "Raw rows in the store for the window benchmark.", DefaultValueFactory = _ => 10_000_000 };
        var dir = new Option<string?>("--dir") { Description = "Scratch folder for the benchmark databases (default: a temporary folder, removed after)." };
        var json = CommonOptions.Json();
        var cmd = new Command("bench", "Benchmark sensor ingestion (MQTT mapping -> store) and one-hour window aggregates.") { readings, rows, dir, json };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var scratch = parse.GetValue(dir) ?? Path.Combine(Path.GetTempPath(), "edgellm-sensors-bench-" + Guid.NewGuid().ToString("N")[..8]);
            var progress = parse.GetValue(json) ? null : new Progress<string>(m => Console.Error.WriteLine(m));
            SensorBenchmarkResult result;
            try
            {
                result = await SensorBenchmark.RunAsync(scratch, parse.GetValue(readings), parse.GetValue(rows), progress, ct).ConfigureAwait(false);
            }
            finally
            {
                if (parse.GetValue(dir) is null)
                {
                    Directory.Delete(scratch, recursive: true);
                }
            }

            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(result);
                return 0;
            }

            Console.WriteLine($"ingest (MQTT mapping -> store)  {result.IngestReadings:N0} readings, {result.IngestPerSecond:N0}/s, {result.IngestRejected} rejected");
            Console.WriteLine($"seed (bulk append)              {result.SeedRows:N0} rows, {result.SeedPerSecond:N0}/s");
            Console.WriteLine($"1h window aggregate             median {result.WindowMedianMs:F2} ms, max {result.WindowMaxMs:F2} ms (raw scan {result.WindowRawScanMs:F1} ms, same answer: {result.WindowMatchesRawScan})");
            foreach (var (target, met) in result.Targets)
            {
                Console.WriteLine($"target                          {target}: {(met ? "met" : "MISSED")}");
            }

            return 0;
        }));
        return cmd;
    }

    private static SensorDefinition Resolve(SensorCatalog catalog, string text) =>
        catalog.Resolve(text) ?? throw new SensorConfigException(
            $"No sensor matches '{text}'. Known: {(catalog.Sensors.Count == 0 ? "none" : string.Join(", ", catalog.Sensors.Select(s => s.Id).Take(20)))}. See `edgellm sensors list`.");

    private static object Describe(SensorDefinition s) => new
    {
        id = s.Id,
        name = s.Name,
        aliases = s.Aliases,
        unit = s.Unit,
        source = s.Source.ToString().ToLowerInvariant(),
        period_s = s.Period.TotalSeconds,
        thresholds = s.Thresholds is { } t ? new { high = t.High, low = t.Low, hysteresis = t.Hysteresis, rate_per_minute = t.RatePerMinute } : null,
    };

    private static string AlertFormat(double value, string unit) => Sensors.Alerts.AlertEngine.Fmt(value, unit);

    /// <summary>--data-dir, --config, --sysfs-root and --json, shared by the sensor commands.</summary>
    private sealed class Common
    {
        public Option<bool> Json { get; } = CommonOptions.Json();

        public Option<string?> DataDir { get; } = CommonOptions.DataDir();

        public Option<string?> Config { get; } = CommonOptions.Config();

        public Option<string?> SysfsRoot { get; } = new("--sysfs-root") { Description = "Root of the sysfs tree to discover sensors under (default: the config's Sensors:SysfsRoot, else /)." };

        public void AddTo(Command cmd)
        {
            cmd.Add(Json);
            cmd.Add(DataDir);
            cmd.Add(Config);
            cmd.Add(SysfsRoot);
        }

        public LiveSensors Live(ParseResult parse)
        {
            var config = parse.GetValue(Config) ?? (File.Exists(DefaultConfig) ? DefaultConfig : null);
            var options = SensorOptions.Load(config);
            if (parse.GetValue(SysfsRoot) is { } root)
            {
                options.SysfsRoot = Directory.Exists(root) ? root : throw new SensorConfigException($"--sysfs-root '{root}' is not a directory.");
            }

            options.Validate(config ?? "--sysfs-root");
            return LiveSensors.Build(options, gpio: null);
        }
    }
}
