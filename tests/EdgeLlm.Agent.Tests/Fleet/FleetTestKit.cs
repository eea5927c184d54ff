using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Tests;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Agent.Tests.Fleet;

/// <summary>A probe with fixed readings.</summary>
internal sealed class FixedProbe : IDeviceProbe
{
    public StatusMessage Current { get; set; } = new() { State = AgentStates.Ready, Model = new ModelRef { Id = "qwen", Version = "1" }, Provider = "cpu", QueueDepth = 2, Version = "9.9.9", Since = "x" };

    public StatusMessage Status() => Current;

    public string? UnavailableReason => null;

    public IReadOnlyList<(string Sensor, double Celsius)> Temperatures() => [("thermal_cpu_thermal", 51.5)];

    public long? MemoryAvailableBytes() => 1_000_000;

    public long ProcessWorkingSetBytes() => 2_000_000;

    public long? DiskFreeBytes() => 3_000_000;
}

/// <summary>The device-side fleet pieces over one temp data folder, with a fake clock and a seeded random.</summary>
internal sealed class FleetKit : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public FleetKit(FleetOptions? fleet = null, AgentOptions? agent = null)
    {
        Agent = agent ?? new AgentOptions();
        Agent.DataDir = _dir.Path;
        Fleet = fleet ?? new FleetOptions { BackoffMinMs = 1000, BackoffMaxMs = 60_000 };
        Outbox = new Outbox(Path.Combine(_dir.Path, "agent.db"), Fleet.OutboxMaxBytes, Time);
        Link = new FleetLink(FleetCredentials.PathIn(_dir.Path), TimeSpan.FromSeconds(10), NullLogger<FleetLink>.Instance);
        Policy = new QueryLogPolicy(Options.Create(Agent), Options.Create(Fleet));
        Requests = new RequestTelemetry(Outbox, Policy, Options.Create(Fleet), Time);
        Uploader = new FleetUploader(Outbox, Link, Options.Create(Fleet), Time, NullLogger<FleetUploader>.Instance, new Random(42));
        Sampler = new TelemetrySampler(Outbox, Requests, Probe, Options.Create(Fleet), Time);
        Desired = new DesiredStateSync(Outbox, Link, Policy, Requests, Probe, Options.Create(Fleet), Time, NullLogger<DesiredStateSync>.Instance, new Random(7));
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));

    public AgentOptions Agent { get; }

    public FleetOptions Fleet { get; }

    public Outbox Outbox { get; }

    public FleetLink Link { get; }

    public QueryLogPolicy Policy { get; }

    public RequestTelemetry Requests { get; }

    public FixedProbe Probe { get; } = new();

    public FleetUploader Uploader { get; }

    public TelemetrySampler Sampler { get; }

    public DesiredStateSync Desired { get; }

    public string DataDir => _dir.Path;

    public string DatabasePath => Path.Combine(_dir.Path, "agent.db");

    public void Enroll(string server, string credential = "edc_test") =>
        new FleetCredentials { Server = server, DeviceId = "dev-1", Credential = credential }.Write(FleetCredentials.PathIn(_dir.Path));

    /// <summary>Every text value of every row of agent.db (outbox and state), for leak checks.</summary>
    public string EverythingStored()
    {
        _ = Outbox.Count;
        using var c = new SqliteConnection($"Data Source={DatabasePath};Pooling=false");
        c.Open();
        var all = new System.Text.StringBuilder();
        foreach (var table in new[] { "fleet_outbox", "state" })
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT * FROM {table}";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                for (var i = 0; i < r.FieldCount; i++)
                {
                    all.Append(r.IsDBNull(i) ? "" : Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)).Append('|');
                }

                all.AppendLine();
            }
        }

        return all.ToString();
    }

    public void Dispose()
    {
        Uploader.Dispose();
        Sampler.Dispose();
        Desired.Dispose();
        Link.Dispose();
        Outbox.Dispose();
        _dir.Dispose();
    }
}
