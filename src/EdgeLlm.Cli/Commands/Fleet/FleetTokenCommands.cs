using System.CommandLine;
using System.Globalization;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>`edgellm fleet tokens create|list|delete`: enrollment tokens.</summary>
internal static class FleetTokenCommands
{
    public static Command Build(FleetConnection connection)
    {
        var cmd = new Command("tokens", "Enrollment tokens: a device presents one to `edgellm enroll` and receives its credential.");
        cmd.Add(BuildCreate(connection));

        cmd.Add(connection.ListCommand("list", "List enrollment tokens (uses left, expiry, tags; never the secret).",
            (client, _, ct) => client.ListTokensAsync(ct), FleetJsonContext.Default.IReadOnlyListEnrollmentToken,
            ["ID", "USES LEFT", "EXPIRES", "TAGS", "CREATED"],
            t => [t.Id, t.UsesLeft.ToString(CultureInfo.InvariantCulture), FleetTable.Time(t.ExpiresAt), Tags(t.Tags), FleetTable.Time(t.CreatedAt)]));
        cmd.Add(connection.IdCommand("delete", "Delete an enrollment token: no further device can enroll with it.", "The token's id (tok_…), from `tokens list`.",
            (client, id, ct) => client.DeleteTokenAsync(id, ct), id => $"deleted token {id}"));
        return cmd;
    }

    private static Command BuildCreate(FleetConnection connection)
    {
        var uses = new Option<int>("--uses") { Description = "How many devices may enroll with it.", DefaultValueFactory = _ => 1 };
        var expires = new Option<string>("--expires") { Description = "Lifetime: 1d, 12h, 30m, 3600s.", DefaultValueFactory = _ => "1d" };
        var tags = new Option<string[]>("--tag") { Description = "A tag for the devices it enrolls (repeatable).", AllowMultipleArgumentsPerToken = false };
        var create = new Command("create", "Create an enrollment token and print it (shown once: the server keeps only its hash).") { uses, expires, tags };
        connection.SetAction(create, async (parse, client, ct) =>
        {
            var n = parse.GetValue(uses);
            if (n < 1)
            {
                throw new ArgumentException($"--uses {n}: give at least 1");
            }

            var request = new CreateTokenRequest
            {
                Uses = n,
                ExpiresInSeconds = (long)FleetArguments.ParseDuration(parse.GetRequiredValue(expires), "--expires").TotalSeconds,
                Tags = parse.GetValue(tags) ?? [],
            };
            var token = await client.CreateTokenAsync(request, ct).ConfigureAwait(false);
            FleetJson.Print(parse.GetValue(connection.Json), token, FleetJsonContext.Default.EnrollmentToken, () =>
            {
                Console.WriteLine(token.Token);
                Console.Error.WriteLine($"token {token.Id}: {token.UsesLeft} use(s), expires {FleetTable.Time(token.ExpiresAt)}{(token.Tags.Count > 0 ? ", tags " + Tags(token.Tags) : "")}");
                Console.Error.WriteLine($"on the device: edgellm enroll --server {client.Server} --token {token.Token} --data-dir DIR");
            });
        });
        return create;
    }

    internal static string Tags(IReadOnlyList<string> tags) => tags.Count == 0 ? "-" : string.Join(',', tags);
}
