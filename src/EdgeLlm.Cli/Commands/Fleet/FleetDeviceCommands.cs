using System.CommandLine;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>`edgellm fleet devices` and `edgellm fleet device show|revoke|desired`.</summary>
internal static class FleetDeviceCommands
{
    public static Command BuildDevices(FleetConnection connection)
    {
        return connection.ListCommand("devices", "List enrolled devices: id, state, health, last seen, model version.",
            (client, _, ct) => client.ListDevicesAsync(ct), FleetJsonContext.Default.IReadOnlyListDeviceSummary,
            ["ID", "STATE", "HEALTH", "LAST SEEN", "MODEL"], d => [d.DeviceId, d.State, d.Health, FleetTable.Time(d.LastSeen), Model(d.ModelName, d.ModelVersion)]);
    }

    public static Command BuildDevice(FleetConnection connection)
    {
        var cmd = new Command("device", "One device: show it, revoke its credential, set its desired state.");

        var showId = Id();
        var show = new Command("show", "Show a device: hardware, desired and reported state, telemetry counts.") { showId };
        connection.SetAction(show, async (parse, client, ct) =>
        {
            var detail = await client.GetDeviceAsync(parse.GetRequiredValue(showId), ct).ConfigureAwait(false);
            FleetJson.Print(parse.GetValue(connection.Json), detail, FleetJsonContext.Default.DeviceDetail, () => Console.Write(Describe(detail)));
        });
        cmd.Add(show);

        cmd.Add(connection.IdCommand("revoke", "Revoke a device's credential: its next request is refused (401).", "The device id.",
            (client, id, ct) => client.RevokeDeviceAsync(id, ct), id => $"revoked device {id}"));
        cmd.Add(BuildDesired(connection));
        return cmd;
    }

    private static Command BuildDesired(FleetConnection connection)
    {
        var id = Id();
        var model = new Option<string?>("--model") { Description = "The model to run, as NAME@VERSION." };
        var adapters = new Option<string[]>("--adapter") { Description = "An adapter to run, as NAME@VERSION (repeatable).", AllowMultipleArgumentsPerToken = false };
        var configBundle = new Option<string?>("--config-bundle") { Description = "The config bundle to run, as NAME@VERSION (a registered, signed overlay of the device's agent.json)." };
        var config = new Option<string?>("--config") { Description = "A JSON file holding an object of agent settings to apply." };
        var queryLog = new Option<bool>("--query-log-upload") { Description = "Let the device upload its query log (redacted on the device first)." };
        var cmd = new Command("desired", "Set a device's desired state. This replaces the whole state: what is not given is cleared.")
        {
            id, model, adapters, configBundle, config, queryLog,
        };
        connection.SetAction(cmd, async (parse, client, ct) =>
        {
            var update = new DesiredStateUpdate
            {
                Model = parse.GetValue(model) is { } m ? FleetArguments.ParseArtifact(m, "--model") : null,
                Adapters = [.. (parse.GetValue(adapters) ?? []).Select(a => FleetArguments.ParseArtifact(a, "--adapter"))],
                ConfigBundle = parse.GetValue(configBundle) is { } c ? FleetArguments.ParseArtifact(c, "--config-bundle") : null,
                Config = parse.GetValue(config) is { } path ? ReadConfig(path) : null,
                QueryLogUpload = parse.GetValue(queryLog),
            };
            var desired = await client.SetDesiredAsync(parse.GetRequiredValue(id), update, ct).ConfigureAwait(false);
            FleetJson.Print(parse.GetValue(connection.Json), desired, FleetJsonContext.Default.DesiredState,
                () => Console.WriteLine($"desired state of {parse.GetRequiredValue(id)} is now revision {desired.Revision}"));
        });
        return cmd;
    }

    /// <summary>Reads <c>--config FILE.json</c>: it must hold one JSON object.</summary>
    internal static JsonElement ReadConfig(string path)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"--config '{path}' does not exist");
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object
                ? doc.RootElement.Clone()
                : throw new ArgumentException($"--config '{path}' must hold a JSON object of settings, not a {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"--config '{path}' is not valid JSON: {ex.Message}", ex);
        }
    }

    internal static string Describe(DeviceDetail detail)
    {
        var d = detail.Device;
        var hw = detail.Hardware;
        var lines = new List<string>
        {
            $"device:     {d.DeviceId}",
            $"state:      {d.State}",
            $"health:     {d.Health}",
            $"last seen:  {FleetTable.Time(d.LastSeen)}",
            $"enrolled:   {FleetTable.Time(d.EnrolledAt)}",
            $"tags:       {FleetTokenCommands.Tags(d.Tags)}",
            $"hardware:   {hw.Arch ?? "?"}, {hw.CpuCount} cpu, {Bytes(hw.MemoryBytes)} memory, {Bytes(hw.DiskBytes)} disk, {hw.Os ?? "?"}"
                + (hw.Accelerators.Count > 0 ? ", " + string.Join(',', hw.Accelerators) : ""),
            $"agent:      {d.AgentVersion ?? "-"}",
            $"desired:    revision {detail.Desired.Revision}, model {Artifact(detail.Desired.Model)}, adapters {Artifacts(detail.Desired.Adapters)}, config {Artifact(detail.Desired.ConfigBundle)}, query log upload {(detail.Desired.QueryLogUpload ? "on" : "off")}",
        };
        if (detail.Reported is { } r)
        {
            lines.Add($"reported:   revision {r.AppliedRevision}, model {Artifact(r.Model)}, adapters {Artifacts(r.Adapters)}, config {Artifact(r.ConfigBundle)}, health {r.Health}, state {r.State ?? "-"}");
            lines.AddRange(r.Errors.Select(e => $"  error:    {e}"));
        }
        else
        {
            lines.Add("reported:   nothing yet");
        }

        lines.Add($"telemetry:  {detail.TelemetryCount} item(s), last seq {detail.LastSeq}");
        return string.Join('\n', lines) + "\n";
    }

    private static Argument<string> Id() => new("id") { Description = "The device id." };

    private static string Model(string? name, string? version) => name is null ? "-" : version is null ? name : $"{name}@{version}";

    private static string Artifact(ArtifactRef? a) => a is null ? "-" : $"{a.Name}@{a.Version}";

    private static string Artifacts(IReadOnlyList<ArtifactRef> list) => list.Count == 0 ? "-" : string.Join(',', list.Select(Artifact));

    private static string Bytes(long n) => n <= 0 ? "?" : n >= 1L << 30 ? $"{n / (double)(1L << 30):F1} GiB" : $"{n / (double)(1L << 20):F0} MiB";
}
