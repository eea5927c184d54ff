using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Hosting;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Fleet.Tests.Api;

public enum StoreKind
{
    Sqlite,
    Postgres,
}

/// <summary>A device enrolled through the API, with a client that sends its credential.</summary>
internal sealed record EnrolledDevice(string DeviceId, string Credential, HttpClient Http);

/// <summary>
/// The real fleet server in-process (<see cref="FleetApp.Build"/>): Kestrel on a free 127.0.0.1 port, a real SQLite
/// file in a temp folder or a fresh database on the test PostgreSQL cluster, and a <see cref="FakeTimeProvider"/>.
/// </summary>
internal sealed class FleetTestServer : IAsyncDisposable
{
    private readonly TempDir? _dir;
    private readonly List<HttpClient> _clients = [];

    private FleetTestServer(WebApplication app, FakeTimeProvider time, string adminKey, TempDir? dir)
    {
        App = app;
        Time = time;
        AdminKey = adminKey;
        _dir = dir;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        BaseUri = new Uri(address);
        Admin = Client(adminKey);
        Anonymous = Client(null);
    }

    public WebApplication App { get; }

    public FakeTimeProvider Time { get; }

    public string AdminKey { get; }

    public Uri BaseUri { get; }

    /// <summary>A client with the first admin key.</summary>
    public HttpClient Admin { get; }

    /// <summary>A client without credentials.</summary>
    public HttpClient Anonymous { get; }

    public static async Task<FleetTestServer> StartAsync(StoreKind kind, PostgresFixture postgres, params string[] settings)
    {
        var dir = kind == StoreKind.Sqlite ? TestPaths.NewTempDir() : null;
        var store = kind == StoreKind.Sqlite
            ? new[] { "--data-dir", dir!.Path }
            : ["--postgres", await postgres.Cluster.CreateDatabaseAsync("fleet_" + Guid.NewGuid().ToString("N")[..16], CancellationToken.None)];
        var adminKey = FleetServerProcess.NewAdminKey();
        // A whole second: stores keep times at millisecond or microsecond precision, so exact comparisons stay exact.
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
        string[] args = ["--urls", "http://127.0.0.1:0", .. store, $"--{FleetStoreInitializer.AdminKeyVariable}={adminKey}", .. settings];
        var app = FleetApp.Build(args, services => services.AddSingleton<TimeProvider>(time));
        await app.StartAsync();
        return new FleetTestServer(app, time, adminKey, dir);
    }

    /// <summary>A client against this server sending <c>Authorization: Bearer {secret}</c> (none when null).</summary>
    public HttpClient Client(string? secret)
    {
        var client = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(30) };
        if (secret is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        }

        _clients.Add(client);
        return client;
    }

    /// <summary>A new API key with this role; returns the key.</summary>
    public async Task<ApiKeyInfo> CreateKeyAsync(string role, string? name = null)
    {
        using var response = await Admin.PostAsync(FleetRoutes.Keys, Json(new CreateApiKeyRequest { Name = name ?? role + "-key", Role = role }, FleetJsonContext.Default.CreateApiKeyRequest));
        return await ReadAsync(response, HttpStatusCode.Created, FleetJsonContext.Default.ApiKeyInfo);
    }

    public async Task<EnrollmentToken> CreateTokenAsync(int uses = 1, long expiresInSeconds = 86_400, params string[] tags)
    {
        var request = new CreateTokenRequest { Uses = uses, ExpiresInSeconds = expiresInSeconds, Tags = tags };
        using var response = await Admin.PostAsync(FleetRoutes.Tokens, Json(request, FleetJsonContext.Default.CreateTokenRequest));
        return await ReadAsync(response, HttpStatusCode.Created, FleetJsonContext.Default.EnrollmentToken);
    }

    public Task<HttpResponseMessage> PostEnrollAsync(string token, string deviceId, HardwareInfo? hardware = null) =>
        Anonymous.PostAsync(FleetRoutes.Enroll, Json(new EnrollRequest { Token = token, DeviceId = deviceId, Hardware = hardware ?? new HardwareInfo { Arch = "arm64", CpuCount = 4 } }, FleetJsonContext.Default.EnrollRequest));

    /// <summary>Creates a token and enrolls a device with it.</summary>
    public async Task<EnrolledDevice> EnrollAsync(string deviceId, params string[] tags)
    {
        var token = await CreateTokenAsync(tags: tags);
        using var response = await PostEnrollAsync(token.Token!, deviceId);
        var enrolled = await ReadAsync(response, HttpStatusCode.Created, FleetJsonContext.Default.EnrollResponse);
        return new EnrolledDevice(deviceId, enrolled.Credential, Client(enrolled.Credential));
    }

    public static HttpContent Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => JsonContent.Create(value, type);

    public static HttpContent RawJson(string json) => new StringContent(json, Encoding.UTF8, "application/json");

    /// <summary>Asserts the status (with the body in the failure message) and parses the body.</summary>
    public static async Task<T> ReadAsync<T>(HttpResponseMessage response, HttpStatusCode expected, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        return System.Text.Json.JsonSerializer.Deserialize(body, type)!;
    }

    /// <summary>Asserts a FleetError with this status and code; returns its message.</summary>
    public static async Task<string> ErrorAsync(HttpResponseMessage response, HttpStatusCode expected, string code)
    {
        var error = await ReadAsync(response, expected, FleetJsonContext.Default.FleetError);
        Assert.Equal(code, error.Error.Code);
        return error.Error.Message;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await App.StopAsync();
        await App.DisposeAsync();
        _dir?.Dispose();
    }
}
