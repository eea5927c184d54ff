using EdgeLlm.Agent.Hosting;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EdgeLlm.IntegrationTests;

/// <summary>The real agent host, in process, on its own data folder and broker port.</summary>
internal sealed class AgentFixture : IAsyncDisposable
{
    private readonly TempDir _data;
    private int _disposed;

    private AgentFixture(IHost host, TempDir data, string deviceId, int port)
    {
        Host = host;
        _data = data;
        DeviceId = deviceId;
        Port = port;
    }

    public IHost Host { get; }

    public string DeviceId { get; }

    /// <summary>The broker port clients connect to (the embedded broker's, or the external broker's).</summary>
    public int Port { get; }

    public string DataDir => _data.Path;

    public T Get<T>() where T : notnull => Host.Services.GetRequiredService<T>();

    public static async Task<AgentFixture> StartAsync(
        Dictionary<string, string?>? settings = null,
        string? model = null,
        int? externalBrokerPort = null,
        Action<IServiceCollection>? services = null,
        string? deviceIdOverride = null,
        string? brokerUrl = null)
    {
        var data = TestModels.NewTempDir();
        var deviceId = deviceIdOverride ?? "dev-" + Guid.NewGuid().ToString("n")[..8];
        var port = externalBrokerPort ?? TestModels.FreePort();
        var all = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Broker:ReconnectMinMs"] = "50",
            ["Broker:ReconnectMaxMs"] = "500",
            ["Agent:ShutdownGraceSeconds"] = "5",
        };
        foreach (var (k, v) in settings ?? [])
        {
            all[k] = v;
        }

        var switches = new AgentSwitches
        {
            DeviceId = deviceId,
            DataDir = data.Path,
            Model = model ?? TestModels.Tiny,
            Broker = brokerUrl ?? (externalBrokerPort is null ? "embedded" : $"mqtt://127.0.0.1:{port}"),
            BrokerPort = externalBrokerPort is null ? port : null,
            Settings = all,
        };
        var builder = AgentHost.CreateBuilder(switches);
        services?.Invoke(builder.Services);
        var host = builder.Build();
        try
        {
            using var start = new CancellationTokenSource(TestModels.Patience);
            await host.StartAsync(start.Token);
        }
        catch
        {
            host.Dispose();
            data.Dispose();
            throw;
        }

        return new AgentFixture(host, data, deviceId, port);
    }

    public async ValueTask DisposeAsync()
    {
        // Tests that stop the agent on purpose also leave the fixture to its `await using`.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        using (var stop = new CancellationTokenSource(TestModels.Patience))
        {
            await Host.StopAsync(stop.Token);
        }

        Host.Dispose();
        _data.Dispose();
    }
}
