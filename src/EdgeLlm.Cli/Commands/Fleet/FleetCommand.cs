using System.CommandLine;
using System.Text.Json.Serialization.Metadata;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>
/// `edgellm fleet …`: the operator's side of the fleet server. <c>--server</c>, <c>--admin-key</c> and <c>--json</c> are
/// recursive, so they may come before or after the subcommand. Later issues add their groups (bundles, rollouts) here.
/// </summary>
internal static class FleetCommand
{
    public static Command Build()
    {
        var connection = new FleetConnection();
        var cmd = new Command("fleet", "Operate a fleet server: enrollment tokens, devices, desired state, API keys, audit log, load generator.");
        connection.AddTo(cmd);
        cmd.Add(FleetTokenCommands.Build(connection));
        cmd.Add(FleetDeviceCommands.BuildDevices(connection));
        cmd.Add(FleetDeviceCommands.BuildDevice(connection));
        cmd.Add(FleetKeyCommands.BuildKeys(connection));
        cmd.Add(FleetKeyCommands.BuildAudit(connection));
        cmd.Add(FleetLoadgenCommand.Build(connection));
        cmd.Add(FleetRolloutCommands.Build(connection));
        return cmd;
    }
}

/// <summary>Where the fleet server is and the key to use; the options every fleet subcommand shares.</summary>
internal sealed class FleetConnection
{
    public const string ServerVariable = "EDGELLM_FLEET_SERVER";
    public const string AdminKeyVariable = "EDGELLM_FLEET_ADMIN_KEY";

    public Option<string?> Server { get; } = new("--server")
    {
        Description = $"The fleet server's base URL, e.g. http://fleet.example:8080. Default: ${ServerVariable}.",
        Recursive = true,
    };

    public Option<string?> AdminKey { get; } = new("--admin-key")
    {
        Description = $"An admin API key (eak_…). Default: ${AdminKeyVariable} (safer: not visible in the process list).",
        Recursive = true,
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Machine-readable JSON on stdout (errors as JSON on stderr).",
        Recursive = true,
    };

    public void AddTo(Command command)
    {
        command.Add(Server);
        command.Add(AdminKey);
        command.Add(Json);
    }

    public Uri ServerUri(ParseResult parse)
    {
        var text = parse.GetValue(Server) ?? Environment.GetEnvironmentVariable(ServerVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException($"no fleet server: give --server URL or set {ServerVariable}");
        }

        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"--server '{text}' is not an http:// or https:// URL");
        }

        // A base address needs its trailing slash, or relative routes would replace its last segment.
        return uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri + "/");
    }

    public string Key(ParseResult parse)
    {
        var key = parse.GetValue(AdminKey) ?? Environment.GetEnvironmentVariable(AdminKeyVariable);
        return string.IsNullOrWhiteSpace(key) ? throw new ArgumentException($"no admin key: give --admin-key KEY or set {AdminKeyVariable}") : key.Trim();
    }

    /// <summary>Sets the command's action: a client for the chosen server, and fleet errors as one line (or JSON) on stderr.</summary>
    public void SetAction(Command command, Func<ParseResult, FleetAdminClient, CancellationToken, Task> body) =>
        command.SetAction((parse, ct) => Run(parse, async () =>
        {
            using var client = new FleetAdminClient(ServerUri(parse), Key(parse));
            await body(parse, client, ct).ConfigureAwait(false);
            return 0;
        }));

    /// <summary>A listing command: the server's list as JSON with --json, else as a table.</summary>
    public Command ListCommand<T>(string name, string description, Func<FleetAdminClient, ParseResult, CancellationToken, Task<IReadOnlyList<T>>> fetch,
        JsonTypeInfo<IReadOnlyList<T>> type, IReadOnlyList<string> headers, Func<T, IReadOnlyList<string>> row, params Option[] options)
    {
        var command = new Command(name, description);
        foreach (var option in options)
        {
            command.Add(option);
        }

        SetAction(command, async (parse, client, ct) =>
        {
            var items = await fetch(client, parse, ct).ConfigureAwait(false);
            if (parse.GetValue(Json))
            {
                FleetJson.Write(items, type);
            }
            else
            {
                FleetTable.Write(headers, items.Select(row));
            }
        });
        return command;
    }

    /// <summary>A command that acts on one id and answers with nothing (delete, revoke): prints <paramref name="done"/>'s line.</summary>
    public Command IdCommand(string name, string description, string idDescription, Func<FleetAdminClient, string, CancellationToken, Task> act, Func<string, string> done)
    {
        var id = new Argument<string>("id") { Description = idDescription };
        var command = new Command(name, description) { id };
        SetAction(command, async (parse, client, ct) =>
        {
            var value = parse.GetRequiredValue(id);
            await act(client, value, ct).ConfigureAwait(false);
            FleetJson.Done(parse.GetValue(Json), done(value));
        });
        return command;
    }

    /// <summary>Runs a command body with the CLI's error conventions, <see cref="FleetApiException"/> included.</summary>
    public Task<int> Run(ParseResult parse, Func<Task<int>> body)
    {
        var json = parse.GetValue(Json);
        return CliOutput.RunAsync(json, async () =>
        {
            try
            {
                return await body().ConfigureAwait(false);
            }
            catch (FleetApiException ex)
            {
                return CliOutput.Error(json, ex.Code, ex.Message);
            }
        });
    }
}
