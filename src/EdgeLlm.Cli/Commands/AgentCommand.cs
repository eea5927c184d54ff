using System.CommandLine;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Updates;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm agent`: the device service (systemd Type=notify) answering questions over MQTT.</summary>
internal static class AgentCommand
{
    public static Command Build()
    {
        var config = CommonOptions.Config();
        var dataDir = CommonOptions.DataDir();
        var deviceId = new Option<string?>("--device-id") { Description = "The device's id in MQTT topics (edgellm/v1/ID/...). Default: the config's Agent:DeviceId, else the host name." };
        var model = new Option<string?>("--model") { Description = "Model folder, or 'none' for retrieval-only mode. Default: DATA_DIR/models/active when present." };
        var broker = new Option<string?>("--broker") { Description = "'embedded' (an MQTT broker inside the agent, the default) or mqtt://HOST:PORT / mqtts://HOST:PORT." };
        var brokerPort = new Option<int?>("--broker-port") { Description = "Port of the embedded broker (default 1883)." };
        var sysfsRoot = new Option<string?>("--sysfs-root") { Description = "Root of the sysfs tree sensors are discovered under (default: the config's Sensors:SysfsRoot, else /)." };
        var cmd = new Command("agent", "Run the device agent: answers questions over MQTT (systemd notify service).") { config, dataDir, deviceId, model, broker, brokerPort, sysfsRoot };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(false, async () =>
        {
            var switches = new AgentSwitches
            {
                ConfigFile = parse.GetValue(config),
                DataDir = parse.GetValue(dataDir),
                DeviceId = parse.GetValue(deviceId),
                Model = parse.GetValue(model),
                Broker = parse.GetValue(broker),
                BrokerPort = parse.GetValue(brokerPort),
                SysfsRoot = parse.GetValue(sysfsRoot),
            };
            try
            {
                using var host = AgentHost.CreateBuilder(switches).Build();
                AgentHost.ValidateOptions(host.Services);
                await host.RunAsync(ct).ConfigureAwait(false);
                return Environment.ExitCode;
            }
            catch (OptionsValidationException ex)
            {
                var section = ex.OptionsType == typeof(BrokerOptions) ? BrokerOptions.Section
                    : ex.OptionsType == typeof(UpdateCoordinatorOptions) || ex.OptionsType == typeof(UpdateOptions) ? UpdateOptions.Section
                    : ex.OptionsType == typeof(EdgeLlm.Agent.Metrics.MetricsOptions) ? EdgeLlm.Agent.Metrics.MetricsOptions.Section
                    : AgentOptions.Section;
                return CliOutput.Error(false, "invalid_config", $"invalid configuration: {string.Join("; ", ex.Failures.Select(f => Named(section, f)))}");
            }
        }));
        return cmd;
    }

    internal static string Named(string section, string failure) => OptionsFailures.Named(section, failure);
}
