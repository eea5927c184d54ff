using System.CommandLine;
using EdgeLlm.Cli.Commands;

namespace EdgeLlm.Cli;

internal static class Program
{
    // Ctrl+C is handled by the commands that can stop part of their work (chat); elsewhere it ends the process.
    public static Task<int> Main(string[] args) =>
        CliApp.Build().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
}

/// <summary>The `edgellm` command tree. A thin layer: every command calls into the libraries.</summary>
internal static class CliApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand("edgellm: an offline LLM agent for edge devices. Runs int4 ONNX models on the device.");
        root.Add(ModelCommand.Build());
        root.Add(TokenizeCommands.BuildTokenize());
        root.Add(TokenizeCommands.BuildDetokenize());
        root.Add(TemplateCommand.Build());
        root.Add(GenerateCommand.Build());
        root.Add(ChatCommand.Build());
        root.Add(BenchCommand.Build());
        root.Add(AgentCommand.Build());
        root.Add(AskCommand.Build());
        root.Add(StatusCommand.Build());
        root.Add(BenchMqttCommand.Build());
        root.Add(BenchUpdateCommand.Build());
        root.Add(ManualsCommand.Build());
        root.Add(SensorsCommand.Build());
        root.Add(EnrollCommand.Build());
        root.Add(Commands.Fleet.FleetCommand.Build());
        root.Add(KeysCommand.Build());
        root.Add(BundleCommand.Build());
        root.Add(DoctorCommand.Build());
        return root;
    }
}
