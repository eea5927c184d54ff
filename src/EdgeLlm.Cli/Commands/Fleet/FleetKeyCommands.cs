using System.CommandLine;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>`edgellm fleet keys create|list|delete` and `edgellm fleet audit` (both need an admin key).</summary>
internal static class FleetKeyCommands
{
    public static Command BuildKeys(FleetConnection connection)
    {
        var cmd = new Command("keys", "Operator API keys and their roles (viewer, operator, admin).");

        var name = new Option<string>("--name") { Description = "Who or what the key is for (shown in the audit log).", Required = true };
        var role = new Option<string>("--role") { Description = "viewer, operator or admin.", Required = true };
        role.AcceptOnlyFromAmong(FleetRoles.Viewer, FleetRoles.Operator, FleetRoles.Admin);
        var create = new Command("create", "Create an API key and print it (shown once: the server keeps only its hash).") { name, role };
        connection.SetAction(create, async (parse, client, ct) =>
        {
            var key = await client.CreateKeyAsync(new CreateApiKeyRequest { Name = parse.GetRequiredValue(name), Role = parse.GetRequiredValue(role) }, ct).ConfigureAwait(false);
            FleetJson.Print(parse.GetValue(connection.Json), key, FleetJsonContext.Default.ApiKeyInfo, () =>
            {
                Console.WriteLine(key.Key);
                Console.Error.WriteLine($"key {key.Id} '{key.Name}', role {key.Role}");
            });
        });
        cmd.Add(create);

        cmd.Add(connection.ListCommand("list", "List API keys (never the secrets).",
            (client, _, ct) => client.ListKeysAsync(ct), FleetJsonContext.Default.IReadOnlyListApiKeyInfo,
            ["ID", "NAME", "ROLE", "CREATED", "REVOKED"], k => [k.Id, k.Name, k.Role, FleetTable.Time(k.CreatedAt), k.Revoked ? "yes" : "no"]));
        cmd.Add(connection.IdCommand("delete", "Revoke an API key: it is refused from its next request on.", "The key's id, from `keys list`.",
            (client, id, ct) => client.DeleteKeyAsync(id, ct), id => $"revoked key {id}"));
        return cmd;
    }

    public static Command BuildAudit(FleetConnection connection)
    {
        var limit = new Option<int>("--limit") { Description = "How many entries, newest first (1 to 1000).", DefaultValueFactory = _ => 50 };
        return connection.ListCommand("audit", "The audit log: every change made through the API, newest first.",
            (client, parse, ct) => client.ListAuditAsync(Limit(parse.GetValue(limit)), ct), FleetJsonContext.Default.IReadOnlyListAuditEntry,
            ["AT", "ACTOR", "ACTION", "TARGET", "DETAIL"], e => [FleetTable.Time(e.At), e.Actor, e.Action, e.Target, e.Detail ?? ""], limit);
    }

    private static int Limit(int n) => n is >= 1 and <= 1000 ? n : throw new ArgumentException($"--limit {n}: give 1 to 1000");
}
