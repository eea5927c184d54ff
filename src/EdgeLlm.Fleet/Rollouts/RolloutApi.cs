using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Api;
using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Hosting;
using EdgeLlm.Fleet.Storage;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>The rollout routes: create, list, show (viewer), pause, resume, abort, rollback, step (operator), each change audited.</summary>
internal sealed class RolloutApi(IFleetStore store, RolloutEngine engine, TimeProvider time, IOptions<FleetOptions> options, ILogger<RolloutApi> logger)
{
    private const int MaxDevices = 100_000;
    private const int MaxStages = 10;
    private const long MaxSoakSeconds = 30L * 24 * 3600;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.ServiceProvider.GetRequiredService<RolloutApi>();
        var ops = app.MapGroup(RolloutRoutes.Rollouts).AddEndpointFilter<FleetAuth.OperatorFilter>().WithTags("Rollouts").ProducesErrors(401, 403);
        ops.MapPost("", FleetResults.Handler(api.CreateAsync)).RequireRole(FleetRoles.Operator)
            .WithName("CreateRollout").WithSummary("Start a rollout")
            .WithDescription("Rolls a registered model bundle (a version, or a channel resolved now) out to all devices, a tag or a device list in stages by cumulative percentage, each soaking at least 'soak_seconds'; halts when a stage's failed share passes 'max_failure_rate'. 409 when a device of the target is in another running, paused or halted rollout.")
            .JsonBody<CreateRolloutRequest>().Produces<RolloutInfo>(StatusCodes.Status201Created).ProducesErrors(400, 404, 409, 413);
        ops.MapGet("", FleetResults.Handler(api.ListAsync)).RequireRole(FleetRoles.Viewer)
            .WithName("ListRollouts").WithSummary("List rollouts").WithDescription("Every rollout, newest first, with its state, stage and counts.")
            .Produces<IReadOnlyList<RolloutSummary>>();
        ops.MapGet("/{id}", (HttpContext c, string id) => api.GetAsync(c, id)).RequireRole(FleetRoles.Viewer)
            .WithName("GetRollout").WithSummary("Show a rollout").WithDescription("Stages with per-stage counts and every device's state and previous model.")
            .Produces<RolloutInfo>().ProducesErrors(404);
        MapChange(ops, api, "pause", "PauseRollout", "Pause a rollout", "A running rollout stops advancing; devices keep their desired state.");
        MapChange(ops, api, "resume", "ResumeRollout", "Resume a rollout", "A paused rollout runs again.");
        MapChange(ops, api, "abort", "AbortRollout", "Abort a rollout", "The rollout stops for good where it is; devices keep their desired state.");
        MapChange(ops, api, "rollback", "RollBackRollout", "Roll a rollout back",
            "Every device the rollout set gets its previous desired model back (unless someone changed it since); the rollout ends rolled_back.");
        MapChange(ops, api, "step", "StepRollout", "Evaluate a rollout now", "Runs the evaluation the background loop runs every Fleet:RolloutStepSeconds.");
    }

    private static void MapChange(RouteGroupBuilder ops, RolloutApi api, string action, string name, string summary, string description) =>
        ops.MapPost("/{id}/" + action, (HttpContext c, string id) => api.ChangeAsync(c, id, action)).RequireRole(FleetRoles.Operator)
            .WithName(name).WithSummary(summary).WithDescription(description).Produces<RolloutInfo>().ProducesErrors(404, 409);

    private async Task<IResult> CreateAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.CreateRolloutRequest, options.Value.MaxBodyBytes, ct);
        if (body.Value is not { } request)
        {
            return body.Error!;
        }

        if (Problem(request) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        var version = request.Version;
        if (request.Channel is { } channel)
        {
            version = (await store.ListChannelsAsync(request.Bundle, ct)).FirstOrDefault(c => c.Channel == channel)?.Version;
            if (version is null)
            {
                return FleetResults.NotFound($"bundle '{request.Bundle}' has no channel '{channel}'");
            }
        }

        if (await store.GetBundleAsync(request.Bundle, version!, ct) is not { } bundle)
        {
            return FleetResults.NotFound($"bundle {request.Bundle}@{version} is not registered");
        }

        if (bundle.Kind != "model")
        {
            return FleetResults.BadRequest($"bundle {bundle.Name}@{bundle.Version} is a '{bundle.Kind}' bundle; rollouts set the desired model, so they take 'model' bundles");
        }

        var (devices, targetProblem) = await ResolveAsync(request.Target, ct);
        if (targetProblem is not null)
        {
            return FleetResults.BadRequest(targetProblem);
        }

        var artifact = new ArtifactRef { Name = bundle.Name, Version = bundle.Version, Sha256 = bundle.Sha256 };
        var rollout = RolloutPlan.Create(Secrets.NewId("ro_"), artifact, request.Channel, request, devices, time.GetUtcNow(), context.Operator().Name);
        if (await store.CreateRolloutAsync(rollout, ct) is { } conflict)
        {
            return FleetResults.Error(StatusCodes.Status409Conflict, FleetErrorCodes.Conflict,
                $"rollout {conflict.Id} ({conflict.State}, {RolloutPlan.Describe(conflict.Bundle)}) already holds devices of this target: abort or roll it back first");
        }

        await AuditAsync(context, "rollout.create", rollout.Id,
            $"bundle={RolloutPlan.Describe(artifact)} devices={devices.Count} stages={string.Join(',', request.Stages)} soak={request.SoakSeconds}s max_failure={request.MaxFailureRate}");
        var started = await engine.StepAsync(rollout.Id, ct) ?? rollout;
        return FleetResults.Json(started, FleetJsonContext.Default.RolloutInfo, StatusCodes.Status201Created);
    }

    private async Task<IResult> ListAsync(HttpContext context)
    {
        var rollouts = await store.ListRolloutsAsync(null, context.RequestAborted);
        return FleetResults.Json<IReadOnlyList<RolloutSummary>>([.. rollouts.Select(r => Summary(r.Info))], FleetJsonContext.Default.IReadOnlyListRolloutSummary);
    }

    private async Task<IResult> GetAsync(HttpContext context, string id) =>
        await store.GetRolloutAsync(id, context.RequestAborted) is { } record
            ? FleetResults.Json(record.Info, FleetJsonContext.Default.RolloutInfo)
            : NotFound(id);

    private async Task<IResult> ChangeAsync(HttpContext context, string id, string action)
    {
        var ct = context.RequestAborted;
        var actor = context.Operator().Name;
        if (action == "step")
        {
            var stepped = await engine.StepAsync(id, ct);
            if (stepped is null)
            {
                return NotFound(id);
            }

            await AuditAsync(context, "rollout.step", id, stepped.State);
            return FleetResults.Json(stepped, FleetJsonContext.Default.RolloutInfo);
        }

        var (allowed, to, from) = action switch
        {
            "pause" => ((Func<string, bool>)(s => s == RolloutStates.Running), RolloutStates.Paused, "running"),
            "resume" => (s => s == RolloutStates.Paused, RolloutStates.Running, "paused"),
            "abort" => (RolloutStates.IsActive, RolloutStates.Aborted, "running, paused or halted"),
            _ => (s => true, RolloutStates.RolledBack, "any state"),
        };
        var (outcome, rollout) = await engine.TransitionAsync(id, allowed, to, $"{action} by {actor}", ct);
        switch (outcome)
        {
            case TransitionOutcome.NotFound:
                return NotFound(id);
            case TransitionOutcome.NotAllowed:
                return FleetResults.Error(StatusCodes.Status409Conflict, FleetErrorCodes.Conflict,
                    $"rollout {id} is {rollout?.State}: {action} needs a rollout that is {from}");
        }

        await AuditAsync(context, "rollout." + action, id, null);
        if (to == RolloutStates.Running)
        {
            rollout = await engine.StepAsync(id, ct) ?? rollout;
        }

        return FleetResults.Json(rollout!, FleetJsonContext.Default.RolloutInfo);
    }

    /// <summary>The devices of the target (unrevoked, each once), or why the target is refused.</summary>
    private async Task<(IReadOnlyList<string> Devices, string? Problem)> ResolveAsync(RolloutTarget target, CancellationToken cancellationToken)
    {
        var devices = (await store.ListDevicesAsync(cancellationToken)).Where(d => !d.Revoked).ToList();
        IReadOnlyList<string> chosen;
        if (target.Devices.Count > 0)
        {
            var known = devices.Select(d => d.DeviceId).ToHashSet(StringComparer.Ordinal);
            if (target.Devices.FirstOrDefault(d => !known.Contains(d)) is { } unknown)
            {
                return ([], $"target.devices: '{unknown}' is not an enrolled, unrevoked device");
            }

            chosen = target.Devices;
        }
        else
        {
            chosen = [.. devices.Where(d => target.All || d.Tags.Contains(target.Tag!, StringComparer.Ordinal)).Select(d => d.DeviceId)];
        }

        return chosen.Count == 0 ? ([], "no enrolled, unrevoked device matches the target") : (chosen, null);
    }

    private static string? Problem(CreateRolloutRequest request)
    {
        var target = request.Target;
        var stages = request.Stages;
        return string.IsNullOrWhiteSpace(request.Bundle) ? "bundle: the bundle name is required"
            : (request.Version is null) == (request.Channel is null) ? "give exactly one of 'version' and 'channel'"
            : request.Channel is { } c && !BundleChannels.IsKnown(c) ? $"channel: one of {string.Join(", ", BundleChannels.All)}"
            : (target.All ? 1 : 0) + (target.Tag is null ? 0 : 1) + (target.Devices.Count > 0 ? 1 : 0) != 1 ? "target: give exactly one of 'all': true, a 'tag' or a list of 'devices'"
            : target.Tag is { Length: 0 or > 64 } ? "target.tag: 1 to 64 characters"
            : target.Devices.Count > MaxDevices ? $"target.devices: at most {MaxDevices}"
            : target.Devices.FirstOrDefault(d => !Validation.IsDeviceId(d)) is { } bad ? $"target.devices: '{bad}' is not a valid device id"
            : target.Devices.Distinct(StringComparer.Ordinal).Count() != target.Devices.Count ? "target.devices: a device is listed twice"
            : stages.Count is 0 or > MaxStages ? $"stages: 1 to {MaxStages} percentages"
            : stages.Any(p => p is < 1 or > 100) ? "stages: each percentage is 1 to 100"
            : stages.Zip(stages.Skip(1)).Any(p => p.First >= p.Second) ? "stages: percentages must increase"
            : stages[^1] != 100 ? "stages: the last stage must be 100 (the whole target)"
            : request.SoakSeconds is < 0 or > MaxSoakSeconds ? $"soak_seconds: 0 to {MaxSoakSeconds}"
            : !double.IsFinite(request.MaxFailureRate) || request.MaxFailureRate is < 0 or > 1 ? "max_failure_rate: 0 to 1"
            : null;
    }

    public static RolloutSummary Summary(RolloutInfo r) => new()
    {
        Id = r.Id,
        Bundle = r.Bundle,
        State = r.State,
        CurrentStage = r.CurrentStage,
        StageCount = r.Stages.Count,
        Devices = r.Devices.Count,
        Succeeded = r.Devices.Count(d => d.State == RolloutDeviceStates.Succeeded),
        Failed = r.Devices.Count(d => d.State == RolloutDeviceStates.Failed),
        CreatedAt = r.CreatedAt,
        UpdatedAt = r.UpdatedAt,
    };

    private static IResult NotFound(string id) => FleetResults.NotFound($"no rollout has id '{id}'");

    private async Task AuditAsync(HttpContext context, string action, string target, string? detail)
    {
        var actor = context.Operator().Name;
        Log.Audited(logger, actor, action, target);
        await store.AppendAuditAsync(new AuditEntry { At = time.GetUtcNow(), Actor = actor, Action = action, Target = target, Detail = detail }, context.RequestAborted);
    }
}
