using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Contracts.Bundles;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// <c>edgellm bundle import</c> for a stopped agent: the agent's own path (<see cref="ImportPipeline"/>, then
/// <see cref="ModelActivator"/> with recovery first and probation 0, as nothing serves answers to judge the model by),
/// over the data directory. The next agent start serves the new <c>models/active</c>. An adapter bundle is loaded onto
/// the installed model and smoke-tested with it; the next start applies it to answers. A config bundle is checked against
/// the configuration the agent reads (with the given switches) and switched in; the next start reads it.
/// </summary>
internal static class ImportOffline
{
    /// <param name="bundlePath">The bundle file (never modified).</param>
    /// <param name="agent">The stopped agent's options (its data directory).</param>
    /// <param name="trust">The publisher keys trusted.</param>
    /// <param name="events">Where the steps are reported.</param>
    /// <param name="logs">The logs.</param>
    /// <param name="cancellationToken">Stops the import (as a crash would).</param>
    /// <param name="switches">How the agent is started (its config file); default: the data directory alone.</param>
    public static async Task<ImportResult> RunAsync(
        string bundlePath, AgentOptions agent, BundleTrust trust, IActivationEvents events, ILoggerFactory logs, CancellationToken cancellationToken, AgentSwitches? switches = null)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(logs);
        if (!File.Exists(bundlePath))
        {
            throw new FileNotFoundException($"{bundlePath}: no such bundle file", bundlePath);
        }

        var time = TimeProvider.System;
        var agentOptions = Options.Create(agent);
        using var active = new ActiveModel(agentOptions, logs.CreateLogger<ActiveModel>(), time) { RetireGrace = TimeSpan.Zero };
        using var activator = new ModelActivator(
            active,
            new AgentModelLoader(agentOptions, logs.CreateLogger<AgentModelLoader>()),
            events,
            agentOptions,
            Options.Create(new ModelUpdateOptions { ProbationAnswers = 0 }),
            time,
            logs.CreateLogger<ModelActivator>());
        activator.Recover();
        ImportPipeline.DeleteUnpackedLeftovers(agent.DataDir);
        var configs = new ConfigSlots(agent.DataDir);
        configs.DeleteLeftovers();
        var header = await BundleReader.InspectAsync(bundlePath, null, cancellationToken).ConfigureAwait(false);
        if (header.Manifest.Kind == BundleKind.Adapter)
        {
            // An adapter is loaded onto, and smoke-tested with, the model the agent will serve.
            await active.StartingAsync(cancellationToken).ConfigureAwait(false);
        }

        var adapters = new ActiveAdapter(agentOptions, logs.CreateLogger<ActiveAdapter>());
        using var adapterInstaller = new AdapterInstaller(active, adapters, events, time, logs.CreateLogger<AdapterInstaller>());
        using var manuals = new Knowledge.Manuals(agentOptions, Options.Create(new Knowledge.ManualsOptions()), active);
        using var manualsInstaller = new Knowledge.ManualsBundleInstaller(agentOptions, Options.Create(new EdgeLlm.Knowledge.KnowledgeOptions()), manuals, events, time,
            logs.CreateLogger<Knowledge.ManualsBundleInstaller>());
        using var configInstaller = new ConfigBundleInstaller(configs, ConfigBundleInstaller.Loader(switches ?? new AgentSwitches { DataDir = agent.DataDir }), events, time,
            logs.CreateLogger<ConfigBundleInstaller>());
        var sha = await ImportPipeline.HashFileAsync(bundlePath, cancellationToken).ConfigureAwait(false);
        return await new ImportPipeline(trust, activator, [adapterInstaller, manualsInstaller, configInstaller], events, agent.DataDir, time)
            .InstallAsync(bundlePath, sha, null, DeviceResources.Local(agent.DataDir), cancellationToken).ConfigureAwait(false);
    }
}
