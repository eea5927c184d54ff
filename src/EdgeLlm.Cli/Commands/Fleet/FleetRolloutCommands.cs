using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>`edgellm fleet rollouts create|list|show|pause|resume|abort|rollback`.</summary>
internal static class FleetRolloutCommands
{
    public static Command Build(FleetConnection connection)
    {
        var cmd = new Command("rollouts", "Staged rollouts of a registered model bundle: canary stages with soak times, automatic halt, pause, abort, fleet-wide rollback.");
        cmd.Add(BuildCreate(connection));
        cmd.Add(connection.ListCommand("list", "List rollouts, newest first: bundle, state, stage, successes and failures.",
            (client, _, ct) => client.SendAsync(HttpMethod.Get, RolloutRoutes.Rollouts, null, FleetJsonContext.Default.IReadOnlyListRolloutSummary, "list rollouts", ct),
            FleetJsonContext.Default.IReadOnlyListRolloutSummary,
            ["ID", "BUNDLE", "STATE", "STAGE", "OK", "FAILED", "DEVICES", "UPDATED"],
            r => [r.Id, $"{r.Bundle.Name}@{r.Bundle.Version}", r.State, $"{r.CurrentStage + 1}/{r.StageCount}", Num(r.Succeeded), Num(r.Failed), Num(r.Devices), FleetTable.Time(r.UpdatedAt)]));

        var showId = new Argument<string>("id") { Description = "The rollout id (ro_…)." };
        var show = new Command("show", "Show a rollout: its stages with counts and every device's state.") { showId };
        connection.SetAction(show, async (parse, client, ct) =>
        {
            var rollout = await client.SendAsync(HttpMethod.Get, RolloutRoutes.Rollout(parse.GetRequiredValue(showId)), null, FleetJsonContext.Default.RolloutInfo, "read rollouts", ct)
                .ConfigureAwait(false);
            FleetJson.Print(parse.GetValue(connection.Json), rollout, FleetJsonContext.Default.RolloutInfo, () => Console.Write(Describe(rollout)));
        });
        cmd.Add(show);

        foreach (var (name, description, route) in new (string, string, Func<string, string>)[]
        {
            ("pause", "Pause a running rollout: it stops advancing.", RolloutRoutes.Pause),
            ("resume", "Resume a paused rollout.", RolloutRoutes.Resume),
            ("abort", "Abort a rollout where it is; devices keep their desired state.", RolloutRoutes.Abort),
            ("rollback", "Roll back: every device the rollout set gets its previous model back.", RolloutRoutes.Rollback),
        })
        {
            var id = new Argument<string>("id") { Description = "The rollout id (ro_…)." };
            var change = new Command(name, description) { id };
            connection.SetAction(change, async (parse, client, ct) =>
            {
                var rollout = await client.SendAsync(HttpMethod.Post, route(parse.GetRequiredValue(id)), null, FleetJsonContext.Default.RolloutInfo, $"{name} rollouts", ct)
                    .ConfigureAwait(false);
                FleetJson.Print(parse.GetValue(connection.Json), rollout, FleetJsonContext.Default.RolloutInfo, () => Console.WriteLine($"rollout {rollout.Id} is {rollout.State}"));
            });
            cmd.Add(change);
        }

        return cmd;
    }

    private static Command BuildCreate(FleetConnection connection)
    {
        var bundle = new Option<string>("--bundle") { Description = "The model bundle as NAME@VERSION, or NAME@stable / NAME@beta for a channel.", Required = true };
        var tag = new Option<string?>("--tag") { Description = "Roll out to the devices with this tag." };
        var devices = new Option<string?>("--devices") { Description = "Roll out to these devices (comma-separated ids)." };
        var all = new Option<bool>("--all") { Description = "Roll out to every device." };
        var stages = new Option<string>("--stages") { Description = "Cumulative percentages, the last 100. Default 5,25,100.", DefaultValueFactory = _ => "5,25,100" };
        var soak = new Option<string?>("--soak") { Description = "Minimum time each stage runs before the next (e.g. 30m, 2h). Default none." };
        var maxFailure = new Option<double>("--max-failure") { Description = "Share of a stage's devices that may fail or roll back before the rollout halts. Default 0.2.", DefaultValueFactory = _ => 0.2 };
        var cmd = new Command("create", "Start a rollout of a registered model bundle.") { bundle, tag, devices, all, stages, soak, maxFailure };
        connection.SetAction(cmd, async (parse, client, ct) =>
        {
            var request = Request(parse.GetRequiredValue(bundle), parse.GetValue(tag), parse.GetValue(devices), parse.GetValue(all),
                parse.GetRequiredValue(stages), parse.GetValue(soak), parse.GetValue(maxFailure));
            var rollout = await client.SendAsync(HttpMethod.Post, RolloutRoutes.Rollouts, JsonSerializer.SerializeToUtf8Bytes(request, FleetJsonContext.Default.CreateRolloutRequest),
                FleetJsonContext.Default.RolloutInfo, "create rollouts", ct).ConfigureAwait(false);
            FleetJson.Print(parse.GetValue(connection.Json), rollout, FleetJsonContext.Default.RolloutInfo,
                () => Console.WriteLine($"rollout {rollout.Id} of {rollout.Bundle.Name}@{rollout.Bundle.Version} started: stage 1 has {rollout.Stages[0].Devices} of {rollout.Devices.Count} devices"));
        });
        return cmd;
    }

    /// <summary>The request the options describe; <see cref="ArgumentException"/> names a bad one.</summary>
    internal static CreateRolloutRequest Request(string bundle, string? tag, string? devices, bool all, string stages, string? soak, double maxFailure)
    {
        var artifact = FleetArguments.ParseArtifact(bundle, "--bundle");
        var ids = devices?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];
        if ((all ? 1 : 0) + (tag is null ? 0 : 1) + (devices is null ? 0 : 1) != 1)
        {
            throw new ArgumentException("give exactly one of --all, --tag T and --devices a,b");
        }

        var channel = BundleChannels.IsKnown(artifact.Version) ? artifact.Version : null;
        return new CreateRolloutRequest
        {
            Bundle = artifact.Name,
            Version = channel is null ? artifact.Version : null,
            Channel = channel,
            Target = new RolloutTarget { All = all, Tag = tag, Devices = ids },
            Stages = FleetArguments.ParseCounts(stages, "--stages"),
            SoakSeconds = soak is null ? 0 : (long)FleetArguments.ParseDuration(soak, "--soak").TotalSeconds,
            MaxFailureRate = maxFailure,
        };
    }

    private static string Describe(RolloutInfo r)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"rollout {r.Id}: {r.Bundle.Name}@{r.Bundle.Version} ({r.Bundle.Sha256}) {r.State}");
        if (r.Reason is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"reason: {r.Reason}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"soak {r.SoakSeconds} s per stage, halts above {r.MaxFailureRate:0.###} failed");
        text.Append(FleetTable.Format(
            ["STAGE", "PERCENT", "DEVICES", "OK", "FAILED", "PENDING", "STARTED"],
            r.Stages.Select((s, i) => (IReadOnlyList<string>)[$"{i + 1}{(i == r.CurrentStage ? "*" : "")}", $"{s.Percent}%", Num(s.Devices), Num(s.Succeeded), Num(s.Failed), Num(s.Pending), FleetTable.Time(s.StartedAt)])));
        text.AppendLine();
        text.Append(FleetTable.Format(
            ["DEVICE", "STAGE", "STATE", "PREVIOUS", "DETAIL"],
            r.Devices.Select(d => (IReadOnlyList<string>)[d.DeviceId, Num(d.Stage + 1), d.State, d.PreviousModel is { } p ? $"{p.Name}@{p.Version}" : "-", d.Detail ?? ""])));
        return text.ToString();
    }

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);
}
