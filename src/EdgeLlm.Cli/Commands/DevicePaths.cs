using System.CommandLine;
using EdgeLlm.Agent.Hosting;
using Microsoft.Extensions.Configuration;

namespace EdgeLlm.Cli.Commands;

/// <summary>
/// Where the device's state lives and who it is, resolved the same way by the service and every tool: the switch
/// (<c>--data-dir</c>), else the device configuration that <c>edgellm agent</c> reads (the <c>--config</c> file or
/// /etc/edgellm/agent.json, overridden by <c>EDGELLM__AGENT__DATADIR</c>), else /var/lib/edgellm.
/// </summary>
internal static class DevicePaths
{
    public const string DefaultDataDir = "/var/lib/edgellm";

    public static string DataDir(ParseResult parse, Option<string?> dataDir, Option<string?>? config = null) =>
        parse.GetValue(dataDir)
        ?? Configuration(parse, config)[$"{AgentOptions.Section}:DataDir"]
        ?? DefaultDataDir;

    /// <summary>The device configuration as the service sees it (without the service's own switches).</summary>
    public static IConfiguration Configuration(ParseResult parse, Option<string?>? config) =>
        new ConfigurationBuilder().AddAgentConfiguration(new AgentSwitches { ConfigFile = config is null ? null : parse.GetValue(config) }).Build();
}
