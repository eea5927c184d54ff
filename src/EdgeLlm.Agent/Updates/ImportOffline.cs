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
/// the installed model and smoke-tested with it; the next start applies it to answers.
/// </summary>
internal static class ImportOffline
{
    public static async Task<ImportResult> RunAsync(string bundlePath, AgentOptions agent, BundleTrust trust, IActivationEvents events, ILoggerFactory logs, CancellationToken cancellationToken)
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
        var sha = await ImportPipeline.HashFileAsync(bundlePath, cancellationToken).ConfigureAwait(false);
        return await new ImportPipeline(trust, activator, [adapterInstaller, manualsInstaller], events, agent.DataDir, time)
            .InstallAsync(bundlePath, sha, null, DeviceResources.Local(agent.DataDir), cancellationToken).ConfigureAwait(false);
    }
}
