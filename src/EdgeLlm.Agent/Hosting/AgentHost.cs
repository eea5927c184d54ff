using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Knowledge;
using EdgeLlm.Agent.Metrics;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Agent.Sensors;
using EdgeLlm.Agent.Storage;
using EdgeLlm.Agent.Updates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Hosting;

/// <summary>The everyday settings given as switches of <c>edgellm agent</c>; null leaves the configured value.</summary>
internal sealed record AgentSwitches
{
    public string? ConfigFile { get; init; }
    public string? DeviceId { get; init; }
    public string? DataDir { get; init; }
    public string? Model { get; init; }

    /// <summary><c>embedded</c>, <c>mqtt://HOST:PORT</c> or <c>mqtts://HOST:PORT</c>.</summary>
    public string? Broker { get; init; }

    public int? BrokerPort { get; init; }

    /// <summary>Root of the sysfs tree sensors are discovered under (<c>Sensors:SysfsRoot</c>).</summary>
    public string? SysfsRoot { get; init; }

    /// <summary>Further settings as configuration keys (tests use it), applied last.</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();
}

/// <summary>Builds the agent's host and configuration; <c>edgellm agent</c> and the tests use the same code.</summary>
internal static class AgentHost
{
    /// <summary>The system-wide configuration file, used when it exists and no other is named.</summary>
    public const string DefaultConfigFile = "/etc/edgellm/agent.json";

    /// <summary>
    /// The configuration in order of precedence, lowest first: appsettings.json next to the executable,
    /// the config file (<c>--config</c>, else /etc/edgellm/agent.json when present), the active config bundle's overlay
    /// (<c>DATA_DIR/config/active/agent.json</c>, <see cref="ConfigSlots"/>), <c>EDGELLM__</c> environment variables
    /// (<c>EDGELLM__AGENT__DATADIR</c> is <c>Agent:DataDir</c>), then the switches. The overlay is read once, at start: no
    /// options class is read through <c>IOptionsMonitor</c>, so a new overlay takes effect at the next start.
    /// </summary>
    /// <param name="config">The builder to add the sources to.</param>
    /// <param name="switches">The switches of <c>edgellm agent</c>.</param>
    /// <param name="overlay">
    /// The overlay file for a data directory, or null for none; default <see cref="ConfigSlots.ActiveOverlay"/>. The
    /// data directory comes from the other sources (a bundle cannot move it: <see cref="ConfigOverlay.Locked"/>).
    /// </param>
    public static IConfigurationBuilder AddAgentConfiguration(this IConfigurationBuilder config, AgentSwitches switches, Func<string, string?>? overlay = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        if (switches.ConfigFile is { } file)
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException($"--config: configuration file '{file}' does not exist", file);
            }

            config.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        }
        else
        {
            config.AddJsonFile(DefaultConfigFile, optional: true, reloadOnChange: false);
        }

        var overlayAt = config.Sources.Count;
        config.AddEnvironmentVariables("EDGELLM__");
        config.AddInMemoryCollection(SwitchSettings(switches));
        var below = new ConfigurationBuilder();
        foreach (var source in config.Sources)
        {
            below.Add(source);
        }

        var dataDir = below.Build()[$"{AgentOptions.Section}:{nameof(AgentOptions.DataDir)}"] ?? new AgentOptions().DataDir;
        if ((overlay ?? ConfigSlots.ActiveOverlay)(dataDir) is { } overlayFile)
        {
            var source = new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource { Path = Path.GetFileName(overlayFile), Optional = false, ReloadOnChange = false };
            source.FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(Path.GetDirectoryName(Path.GetFullPath(overlayFile))!);
            config.Sources.Insert(overlayAt, source);
        }

        return config;
    }

    public static HostApplicationBuilder CreateBuilder(AgentSwitches switches)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddAgentConfiguration(switches);
        builder.Services.AddSingleton(switches);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        // Logs on stderr (the journal takes both streams); stdout stays for command output such as --json.
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        builder.AddEdgeAgent();
        return builder;
    }

    /// <summary>Registers the agent: options validated at start, storage, model, broker, pipeline, dispatcher, systemd.</summary>
    public static IHostApplicationBuilder AddEdgeAgent(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptionsWithValidateOnStart<AgentOptions>().Bind(builder.Configuration.GetSection(AgentOptions.Section));
        services.AddOptionsWithValidateOnStart<BrokerOptions>().Bind(builder.Configuration.GetSection(BrokerOptions.Section));
        services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        services.AddSingleton<IValidateOptions<BrokerOptions>, BrokerOptionsValidator>();
        services.AddSingleton<IValidateOptions<BrokerOptions>, BrokerOptionsRules>();
        services.TryAddSingleton<ISystemdNotifier, SystemdNotifier>();

        // Start order is registration order (stop is the reverse): storage, model, broker, connection, requests, status, systemd.
        services.AddSingleton<AgentDatabase>();
        services.AddHostedService(sp => sp.GetRequiredService<AgentDatabase>());
        builder.AddModelUpdates();
        services.AddSingleton<ActiveModel>();
        services.AddHostedService(sp => sp.GetRequiredService<ActiveModel>());
        builder.AddAgentSensors();
        services.AddSingleton<EmbeddedBroker>();
        services.AddHostedService(sp => sp.GetRequiredService<EmbeddedBroker>());
        services.AddSingleton<StatusBoard>();
        services.AddSingleton<QueryPipeline>();
        services.AddSingleton<RequestDispatcher>();
        services.AddSingleton<AskIntake>();
        services.AddSingleton<MqttConnection>();
        services.AddHostedService(sp =>
        {
            // The intake needs the dispatcher, which needs the connection: wire the handler once all three exist.
            var connection = sp.GetRequiredService<MqttConnection>();
            connection.OnMessage(sp.GetRequiredService<AskIntake>().OnMessageAsync);
            foreach (var subscriber in sp.GetServices<IMqttSubscriber>())
            {
                connection.AddSubscriber(subscriber);
            }

            return connection;
        });
        services.AddHostedService(sp => sp.GetRequiredService<RequestDispatcher>());
        services.AddHostedService<StatusPublisher>();
        services.AddHostedService<SystemdNotifications>();
        builder.AddManuals();
        builder.AddFleetSync();
        builder.AddUpdateCoordinator();
        builder.AddAgentMetrics();
        return builder;
    }

    /// <summary>
    /// Validates every options class now, so a bad setting is reported as one <see cref="OptionsValidationException"/>
    /// before any service is built (services read their options when they are constructed).
    /// </summary>
    public static void ValidateOptions(IServiceProvider services)
    {
        _ = services.GetRequiredService<IOptions<AgentOptions>>().Value;
        _ = services.GetRequiredService<IOptions<BrokerOptions>>().Value;
        _ = services.GetRequiredService<IOptions<ManualsOptions>>().Value;
        _ = services.GetRequiredService<IOptions<EdgeLlm.Knowledge.KnowledgeOptions>>().Value;
        _ = services.GetRequiredService<IOptions<FleetOptions>>().Value;
        _ = services.GetRequiredService<IOptions<UpdateOptions>>().Value;
        _ = services.GetRequiredService<IOptions<UpdateCoordinatorOptions>>().Value;
        _ = services.GetRequiredService<IOptions<MetricsOptions>>().Value;
    }

    internal static Dictionary<string, string?> SwitchSettings(AgentSwitches s)
    {
        var d = new Dictionary<string, string?>(s.Settings);
        if (s.DeviceId is not null)
        {
            d["Agent:DeviceId"] = s.DeviceId;
        }

        if (s.DataDir is not null)
        {
            d["Agent:DataDir"] = s.DataDir;
        }

        if (s.Model is not null)
        {
            d["Agent:Model"] = s.Model;
        }

        if (s.SysfsRoot is not null)
        {
            d["Sensors:SysfsRoot"] = Directory.Exists(s.SysfsRoot) ? s.SysfsRoot : throw new ArgumentException($"--sysfs-root: '{s.SysfsRoot}' is not a directory");
        }

        if (s.BrokerPort is not null)
        {
            d["Broker:Port"] = s.BrokerPort.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        switch (s.Broker)
        {
            case null:
                break;
            case "embedded":
                d["Broker:Mode"] = "embedded";
                break;
            default:
                if (!Uri.TryCreate(s.Broker, UriKind.Absolute, out var uri) || uri.Scheme is not ("mqtt" or "mqtts") || uri.Host.Length == 0)
                {
                    throw new ArgumentException($"--broker: '{s.Broker}' is not 'embedded', mqtt://HOST:PORT or mqtts://HOST:PORT");
                }

                d["Broker:Mode"] = "external";
                d["Broker:Host"] = uri.Host;
                d["Broker:UseTls"] = uri.Scheme == "mqtts" ? "true" : "false";
                if (!uri.IsDefaultPort && uri.Port > 0)
                {
                    d["Broker:Port"] = uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }

                break;
        }

        return d;
    }
}
