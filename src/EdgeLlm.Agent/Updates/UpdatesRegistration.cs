using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

internal static class UpdatesRegistration
{
    /// <summary>
    /// Model updates: <c>Updates</c> options, the loader seam, the event log, the activator (also a request recorder, for
    /// probation), the adapter installer and the adapter answers use, the config bundle installer (reading the configuration
    /// with the switches <c>AgentHost.CreateBuilder</c> registers), and the start-up recovery of an interrupted activation. Register before the <c>ActiveModel</c>: hosted
    /// services start in registration order, and recovery must fix <c>models/active</c> before the model is loaded.
    /// </summary>
    public static IHostApplicationBuilder AddModelUpdates(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<ModelUpdateOptions>().Bind(builder.Configuration.GetSection(ModelUpdateOptions.Section));
        services.AddSingleton<IValidateOptions<ModelUpdateOptions>, ModelUpdateOptionsValidator>();
        services.TryAddSingleton<IModelLoader, AgentModelLoader>();
        services.AddSingleton<ActivationEventLog>();
        services.TryAddSingleton<IActivationEvents>(sp => sp.GetRequiredService<ActivationEventLog>());
        services.AddSingleton<ModelActivator>();
        services.AddSingleton<IRequestRecorder>(sp => sp.GetRequiredService<ModelActivator>());
        services.AddSingleton<ActiveAdapter>();
        services.AddSingleton<AdapterInstaller>();
        services.AddSingleton<IBundleInstaller>(sp => sp.GetRequiredService<AdapterInstaller>());
        services.AddSingleton(sp => new ConfigBundleInstaller(
            sp.GetRequiredService<IOptions<AgentOptions>>(),
            sp.GetService<AgentSwitches>() ?? new AgentSwitches(),
            sp.GetRequiredService<IActivationEvents>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ConfigBundleInstaller>>()));
        services.AddSingleton<IBundleInstaller>(sp => sp.GetRequiredService<ConfigBundleInstaller>());
        services.AddHostedService<SlotRecovery>();
        services.AddHostedService<UpdateStateScript>();
        services.AddOptionsWithValidateOnStart<UpdateOptions>().Bind(builder.Configuration.GetSection(UpdateOptions.Section));
        services.AddSingleton<IValidateOptions<UpdateOptions>, UpdateOptionsValidator>();
        services.AddSingleton<IValidateOptions<UpdateOptions>, UpdateOptionsRules>();
        services.AddOptionsWithValidateOnStart<UpdateCoordinatorOptions>().Bind(builder.Configuration.GetSection(UpdateCoordinatorOptions.Section));
        services.AddSingleton<IValidateOptions<UpdateCoordinatorOptions>, UpdateCoordinatorOptionsValidator>();
        services.AddSingleton<IValidateOptions<UpdateCoordinatorOptions>, UpdateCoordinatorOptionsRules>();
        return builder;
    }

    /// <summary>
    /// The update coordinator (fleet desired state and import folder), the downloader it uses, and the reporter that sends
    /// every update step to the fleet and the <c>events</c> topic. Register after the fleet sync and the MQTT connection:
    /// it starts after them and stops before them.
    /// </summary>
    public static IHostApplicationBuilder AddUpdateCoordinator(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<IDesiredModel>(sp => sp.GetRequiredService<DesiredStateSync>());
        services.AddSingleton<IDownloadProgress, DownloadProgressEvents>();
        services.AddSingleton(sp => new Downloader(
            sp.GetRequiredService<FleetLink>(),
            sp.GetRequiredService<IOptions<UpdateOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Downloader>>(),
            sp.GetRequiredService<IDownloadProgress>()));
        services.AddSingleton<IBundleFetcher, FleetBundleFetcher>();
        services.AddSingleton<UpdateStateReporter>();
        services.AddHostedService(sp => sp.GetRequiredService<UpdateStateReporter>());
        services.AddSingleton<UpdateCoordinator>();
        services.AddHostedService(sp => sp.GetRequiredService<UpdateCoordinator>());
        return builder;
    }
}

/// <summary>
/// Runs <see cref="ModelActivator.Recover"/> before any model is loaded (and deletes unpacked staging folders and config
/// slots no link names, which a crash left), and marks a probation interrupted by a normal
/// stop. A recovery that fails on the disk is logged and the agent starts with <c>models/active</c> as it is: refusing
/// to start would leave the device with no model at all.
/// </summary>
internal sealed class SlotRecovery(ModelActivator activator, IOptions<AgentOptions> agent, ILogger<SlotRecovery> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        try
        {
            activator.Recover();
            ImportPipeline.DeleteUnpackedLeftovers(agent.Value.DataDir);
            new ConfigSlots(agent.Value.DataDir).DeleteLeftovers();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            UpdateLog.RecoveryFailed(logger, ex.Message);
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => activator.MarkStoppedAsync(cancellationToken);
}
