using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Fleet.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.IntegrationTests.Fleet;

/// <summary>The operator's side of the real server, over its HTTP API with the admin key.</summary>
internal sealed class FleetAdmin : IDisposable
{
    private readonly HttpClient _http;

    public FleetAdmin(FleetServerProcess server)
    {
        Server = server;
        _http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.AdminKey);
    }

    public FleetServerProcess Server { get; }

    public string Url => Server.BaseUri.ToString().TrimEnd('/');

    public async Task<string> CreateTokenAsync(int uses = 1)
    {
        using var response = await _http.PostAsJsonAsync(FleetRoutes.Tokens, new CreateTokenRequest { Uses = uses }, FleetJsonContext.Default.CreateTokenRequest);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.EnrollmentToken))!.Token!;
    }

    /// <summary>Enrolls like `edgellm enroll` does and writes fleet.json into <paramref name="dataDir"/>.</summary>
    public async Task<FleetCredentials> EnrollAsync(string deviceId, string dataDir)
    {
        var request = new EnrollRequest { Token = await CreateTokenAsync(), DeviceId = deviceId };
        using var anonymous = new HttpClient { BaseAddress = Server.BaseUri };
        using var response = await anonymous.PostAsJsonAsync(FleetRoutes.Enroll, request, FleetJsonContext.Default.EnrollRequest);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var enrolled = (await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.EnrollResponse))!;
        var credentials = new FleetCredentials { Server = Url, DeviceId = deviceId, Credential = enrolled.Credential };
        credentials.Write(FleetCredentials.PathIn(dataDir));
        return credentials;
    }

    public async Task<DeviceDetail> DeviceAsync(string id) =>
        (await _http.GetFromJsonAsync(FleetRoutes.Device(id), FleetJsonContext.Default.DeviceDetail))!;

    /// <summary>Every telemetry item the server stored for the device, in seq order.</summary>
    public async Task<List<TelemetryItem>> TelemetryAsync(string id)
    {
        var all = new List<TelemetryItem>();
        for (var page = 0; page < 10_000; page++)
        {
            var after = all.Count == 0 ? 0 : all[^1].Seq;
            var items = (await _http.GetFromJsonAsync($"{FleetRoutes.DeviceTelemetry(id)}?limit=1000&after={after}", FleetJsonContext.Default.IReadOnlyListTelemetryItem))!;
            all.AddRange(items);
            if (items.Count < 1000)
            {
                return all;
            }
        }

        throw new InvalidOperationException("telemetry paging did not end");
    }

    public async Task RevokeAsync(string id)
    {
        using var response = await _http.PostAsync(FleetRoutes.DeviceRevoke(id), null);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    public async Task SetDesiredAsync(string id, DesiredStateUpdate update)
    {
        using var response = await _http.PutAsJsonAsync(FleetRoutes.DeviceDesired(id), update, FleetJsonContext.Default.DesiredStateUpdate);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Polls until <paramref name="done"/> holds (bounded: 60 s and 600 tries); fails with <paramref name="what"/>.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var watch = Stopwatch.StartNew();
        T value = await read();
        for (var i = 0; i < 600 && !done(value) && watch.Elapsed < TestModels.Patience; i++)
        {
            await Task.Delay(100);
            value = await read();
        }

        Assert.True(done(value), $"timed out waiting for {what}");
        return value;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A probe with fixed readings for device-side pieces run in the test process.</summary>
internal sealed class StillProbe : IDeviceProbe
{
    public StatusMessage Status() => new() { State = AgentStates.RetrievalOnly, QueueDepth = 0, Version = "test", Since = "t" };

    public string? UnavailableReason => "test";

    public IReadOnlyList<(string Sensor, double Celsius)> Temperatures() => [("thermal_soc", 48.25)];

    public long? MemoryAvailableBytes() => 512L << 20;

    public long ProcessWorkingSetBytes() => 64L << 20;

    public long? DiskFreeBytes() => 8L << 30;
}

/// <summary>The device's fleet pieces (outbox, sampler, uploader) in the test process, on a fake clock, talking to the real server.</summary>
internal sealed class DeviceFleetKit : IDisposable
{
    public DeviceFleetKit(string dataDir, FleetOptions options)
    {
        DataDir = dataDir;
        Options = options;
        var agent = new AgentOptions { DataDir = dataDir };
        Outbox = new Outbox(Path.Combine(dataDir, "agent.db"), options.OutboxMaxBytes, Time);
        Link = new FleetLink(FleetCredentials.PathIn(dataDir), TimeSpan.FromSeconds(10), NullLogger<FleetLink>.Instance);
        var requests = new RequestTelemetry(Outbox, new QueryLogPolicy(Microsoft.Extensions.Options.Options.Create(agent), Microsoft.Extensions.Options.Options.Create(options)),
            Microsoft.Extensions.Options.Options.Create(options), Time);
        Sampler = new TelemetrySampler(Outbox, requests, new StillProbe(), Microsoft.Extensions.Options.Options.Create(options), Time);
        Uploader = new FleetUploader(Outbox, Link, Microsoft.Extensions.Options.Options.Create(options), Time, NullLogger<FleetUploader>.Instance, new Random(3));
    }

    public string DataDir { get; }

    public FleetOptions Options { get; }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero));

    public Outbox Outbox { get; }

    public FleetLink Link { get; }

    public TelemetrySampler Sampler { get; }

    public FleetUploader Uploader { get; }

    /// <summary>Steps the uploader until the outbox is empty (bounded), moving the fake clock by each returned wait.</summary>
    public async Task DrainAsync(int maxSteps = 500)
    {
        for (var i = 0; i < maxSteps && Outbox.Count > 0; i++)
        {
            Time.Advance(await Uploader.StepAsync(CancellationToken.None));
        }

        Assert.Equal(0, Outbox.Count);
    }

    public void Dispose()
    {
        Uploader.Dispose();
        Sampler.Dispose();
        Link.Dispose();
        Outbox.Dispose();
    }

    /// <summary>Every row of the outbox table of <paramref name="databasePath"/> as (seq, ts ms, name, value).</summary>
    public static List<(long Seq, long TsMs, string Name, double? Value)> Rows(string databasePath)
    {
        using var c = new SqliteConnection($"Data Source={databasePath};Pooling=false");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT seq, ts, name, value FROM fleet_outbox ORDER BY seq";
        using var r = cmd.ExecuteReader();
        var rows = new List<(long, long, string, double?)>();
        while (r.Read())
        {
            rows.Add((r.GetInt64(0), DateTimeOffset.Parse(r.GetString(1), CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), r.GetString(2), r.IsDBNull(3) ? null : r.GetDouble(3)));
        }

        return rows;
    }

    public static List<(long Seq, long TsMs, string Name, double? Value)> Rows(IEnumerable<TelemetryItem> items) =>
        [.. items.Select(i => (i.Seq, i.Ts.ToUnixTimeMilliseconds(), i.Name, i.Value))];

    /// <summary>Every text of every outbox and state row, for leak checks.</summary>
    public static string Everything(string databasePath)
    {
        using var c = new SqliteConnection($"Data Source={databasePath};Pooling=false");
        c.Open();
        var all = new StringBuilder();
        foreach (var table in new[] { "fleet_outbox", "state" })
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT * FROM {table}";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                for (var i = 0; i < r.FieldCount; i++)
                {
                    all.Append(r.IsDBNull(i) ? "" : Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture)).Append('|');
                }
            }
        }

        return all.ToString();
    }
}
