using System.CommandLine;

namespace EdgeLlm.Cli.Commands;

/// <summary>
/// Where the device's state lives, resolved the same way by the service and every tool:
/// <c>--data-dir</c>, then the environment (<c>EDGELLM__AGENT__DATADIR</c>), then /var/lib/edgellm.
/// </summary>
internal static class DevicePaths
{
    public const string DefaultDataDir = "/var/lib/edgellm";

    public static string DataDir(ParseResult parse, Option<string?> dataDir) =>
        parse.GetValue(dataDir)
        ?? Environment.GetEnvironmentVariable("EDGELLM__AGENT__DATADIR")
        ?? DefaultDataDir;
}
