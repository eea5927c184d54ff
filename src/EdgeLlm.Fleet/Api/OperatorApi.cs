using System.Globalization;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Hosting;
using EdgeLlm.Fleet.Storage;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Api;

/// <summary>The routes operators call with an admin API key; the role each needs is its <see cref="RequiresRole"/>.</summary>
internal sealed class OperatorApi(IFleetStore store, TimeProvider time, IOptions<FleetOptions> options, DeviceViews views, ILogger<OperatorApi> logger)
{
    private readonly FleetOptions _options = options.Value;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.ServiceProvider.GetRequiredService<OperatorApi>();
        var ops = app.MapGroup(FleetRoutes.Prefix).AddEndpointFilter<FleetAuth.OperatorFilter>().ProducesErrors(401, 403);

        var tokens = ops.MapGroup("/tokens").WithTags("Enrollment tokens");
        tokens.MapPost("", FleetResults.Handler(api.CreateTokenAsync)).RequireRole(FleetRoles.Operator)
            .WithName("CreateToken").WithSummary("Create an enrollment token")
            .WithDescription("A token for 'uses' enrollments (default 1) that expires after 'expires_in_seconds' (default one day). The token itself is only in this response.")
            .JsonBody<CreateTokenRequest>().Produces<EnrollmentToken>(StatusCodes.Status201Created).ProducesErrors(400, 413);
        tokens.MapGet("", FleetResults.Handler(api.ListTokensAsync)).RequireRole(FleetRoles.Viewer)
            .WithName("ListTokens").WithSummary("List enrollment tokens").WithDescription("Every token with its uses left and expiry (never the token itself).")
            .Produces<IReadOnlyList<EnrollmentToken>>();
        tokens.MapDelete("/{id}", (HttpContext c, string id) => api.DeleteTokenAsync(c, id)).RequireRole(FleetRoles.Operator)
            .WithName("DeleteToken").WithSummary("Delete an enrollment token").WithDescription("The token can no longer enroll devices.")
            .Produces(StatusCodes.Status204NoContent).ProducesErrors(404);

        var devices = ops.MapGroup("/devices").WithTags("Devices");
        devices.MapGet("", FleetResults.Handler(api.ListDevicesAsync)).RequireRole(FleetRoles.Viewer)
            .WithName("ListDevices").WithSummary("List devices").WithDescription("Every device with state, health, last seen, model and agent version, tags; ordered by id.")
            .Produces<IReadOnlyList<DeviceSummary>>();
        devices.MapGet("/{id}", (HttpContext c, string id) => api.GetDeviceAsync(c, id)).RequireRole(FleetRoles.Viewer)
            .WithName("GetDevice").WithSummary("Show one device").WithDescription("Summary, hardware, desired and reported state, telemetry counts.")
            .Produces<DeviceDetail>().ProducesErrors(400, 404);
        devices.MapPut("/{id}/desired", (HttpContext c, string id) => api.SetDesiredAsync(c, id)).RequireRole(FleetRoles.Operator)
            .WithName("SetDesiredState").WithSummary("Set a device's desired state")
            .WithDescription("Replaces the whole desired state (model, adapters, config fragment, query-log upload); the revision goes up by one.")
            .JsonBody<DesiredStateUpdate>().Produces<DesiredState>().ProducesErrors(400, 404, 413);
        devices.MapPost("/{id}/revoke", (HttpContext c, string id) => api.RevokeDeviceAsync(c, id)).RequireRole(FleetRoles.Operator)
            .WithName("RevokeDevice").WithSummary("Revoke a device").WithDescription("Its credential stops working at once; it cannot enroll again under the same id.")
            .Produces(StatusCodes.Status204NoContent).ProducesErrors(400, 404);
        devices.MapGet("/{id}/telemetry", (HttpContext c, string id) => api.ReadTelemetryAsync(c, id)).RequireRole(FleetRoles.Viewer)
            .WithName("GetDeviceTelemetry").WithSummary("Read a device's telemetry")
            .WithDescription("Items with seq above 'after' (default: from the start), in seq order, at most 'limit' (1 to 1000, default 100).")
            .Produces<IReadOnlyList<TelemetryItem>>().ProducesErrors(400, 404);

        var keys = ops.MapGroup("/keys").WithTags("API keys");
        keys.MapPost("", FleetResults.Handler(api.CreateKeyAsync)).RequireRole(FleetRoles.Admin)
            .WithName("CreateApiKey").WithSummary("Create an API key").WithDescription("A key with a name (the actor in the audit log) and a role; the key itself is only in this response.")
            .JsonBody<CreateApiKeyRequest>().Produces<ApiKeyInfo>(StatusCodes.Status201Created).ProducesErrors(400, 413);
        keys.MapGet("", FleetResults.Handler(api.ListKeysAsync)).RequireRole(FleetRoles.Admin)
            .WithName("ListApiKeys").WithSummary("List API keys").WithDescription("Every key's id, name, role and whether it is revoked (never the key itself).")
            .Produces<IReadOnlyList<ApiKeyInfo>>();
        keys.MapDelete("/{id}", (HttpContext c, string id) => api.RevokeKeyAsync(c, id)).RequireRole(FleetRoles.Admin)
            .WithName("RevokeApiKey").WithSummary("Revoke an API key").WithDescription("The key stops working at once.")
            .Produces(StatusCodes.Status204NoContent).ProducesErrors(404);

        ops.MapGet("/audit", FleetResults.Handler(api.ListAuditAsync)).RequireRole(FleetRoles.Admin).WithTags("Audit")
            .WithName("ListAudit").WithSummary("Read the audit log").WithDescription("Changes made through the API, newest first, at most 'limit' (1 to 1000, default 100).")
            .Produces<IReadOnlyList<AuditEntry>>().ProducesErrors(400);
    }

    private async Task<IResult> CreateTokenAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.CreateTokenRequest, _options.MaxBodyBytes, ct);
        if (body.Value is not { } parsed)
        {
            return body.Error!;
        }

        var request = parsed;
        if (Validation.Token(request) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        var secret = Secrets.NewEnrollmentToken();
        var now = time.GetUtcNow();
        var record = new TokenRecord(Secrets.NewId("tok_"), Secrets.Hash(secret), request.Uses, now.AddSeconds(request.ExpiresInSeconds),
            request.Tags, now, context.Operator().Name);
        await store.CreateTokenAsync(record, ct);
        await AuditAsync(context, "token.create", record.Id, $"uses={request.Uses} expires_at={record.ExpiresAt:O}");
        return FleetResults.Json(ToWire(record) with { Token = secret }, FleetJsonContext.Default.EnrollmentToken, StatusCodes.Status201Created);
    }

    private async Task<IResult> ListTokensAsync(HttpContext context)
    {
        var tokens = await store.ListTokensAsync(context.RequestAborted);
        return FleetResults.Json<IReadOnlyList<EnrollmentToken>>([.. tokens.Select(ToWire)], FleetJsonContext.Default.IReadOnlyListEnrollmentToken);
    }

    private async Task<IResult> DeleteTokenAsync(HttpContext context, string id)
    {
        if (!await store.DeleteTokenAsync(id, context.RequestAborted))
        {
            return FleetResults.NotFound($"no enrollment token has id '{id}'");
        }

        await AuditAsync(context, "token.delete", id, null);
        return TypedResults.NoContent();
    }

    private async Task<IResult> ListDevicesAsync(HttpContext context)
    {
        var devices = await store.ListDevicesAsync(context.RequestAborted);
        return FleetResults.Json<IReadOnlyList<DeviceSummary>>([.. devices.Select(views.Summary)], FleetJsonContext.Default.IReadOnlyListDeviceSummary);
    }

    private async Task<IResult> GetDeviceAsync(HttpContext context, string id)
    {
        var ct = context.RequestAborted;
        var (device, error) = await FindDeviceAsync(id, ct);
        if (device is null)
        {
            return error!;
        }

        var desired = await store.GetDesiredAsync(id, ct);
        var (lastSeq, count) = await store.TelemetryStatsAsync(id, ct);
        var detail = new DeviceDetail
        {
            Device = views.Summary(device),
            Hardware = device.Hardware,
            Desired = desired,
            Reported = device.Reported,
            LastSeq = lastSeq,
            TelemetryCount = count,
        };
        return FleetResults.Json(detail, FleetJsonContext.Default.DeviceDetail);
    }

    private async Task<IResult> SetDesiredAsync(HttpContext context, string id)
    {
        var ct = context.RequestAborted;
        var (device, error) = await FindDeviceAsync(id, ct);
        if (device is null)
        {
            return error!;
        }

        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.DesiredStateUpdate, _options.MaxBodyBytes, ct);
        if (body.Value is not { } parsed)
        {
            return body.Error!;
        }

        var update = parsed;
        if (Validation.Desired(update) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        if (update.Config is { ValueKind: System.Text.Json.JsonValueKind.Null })
        {
            update = update with { Config = null };
        }

        // A registered bundle named without its SHA-256 gets it: a device downloads artifacts by their hash.
        update = update with
        {
            Model = await WithSha256Async(update.Model, ct),
            Adapters = [.. (await Task.WhenAll(update.Adapters.Select(a => WithSha256Async(a, ct)))).OfType<ArtifactRef>()],
            ConfigBundle = await WithSha256Async(update.ConfigBundle, ct),
        };
        var desired = await store.SetDesiredAsync(id, update, ct);
        var model = update.Model is { } m ? $"{m.Name}@{m.Version}" : "none";
        await AuditAsync(context, "desired.set", id, $"revision={desired.Revision} model={model}");
        return FleetResults.Json(desired, FleetJsonContext.Default.DesiredState);
    }

    private async Task<ArtifactRef?> WithSha256Async(ArtifactRef? artifact, CancellationToken cancellationToken) =>
        artifact is { Sha256: null } && await store.GetBundleAsync(artifact.Name, artifact.Version, cancellationToken) is { } bundle
            ? artifact with { Sha256 = bundle.Sha256 }
            : artifact;

    private async Task<IResult> RevokeDeviceAsync(HttpContext context, string id)
    {
        if (Validation.DeviceId(id) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        if (!await store.RevokeDeviceAsync(id, context.RequestAborted))
        {
            return FleetResults.NotFound($"no device has id '{id}'");
        }

        await AuditAsync(context, "device.revoke", id, null);
        return TypedResults.NoContent();
    }

    private async Task<IResult> ReadTelemetryAsync(HttpContext context, string id)
    {
        var ct = context.RequestAborted;
        if (!TryQuery(context, "limit", 100, 1, 1000, out var limit, out var error) || !TryQuery(context, "after", -1, -1, long.MaxValue, out var after, out error))
        {
            return error!;
        }

        var (device, notFound) = await FindDeviceAsync(id, ct);
        if (device is null)
        {
            return notFound!;
        }

        var items = await store.ReadTelemetryAsync(id, after, (int)limit, ct);
        return FleetResults.Json(items, FleetJsonContext.Default.IReadOnlyListTelemetryItem);
    }

    private async Task<IResult> CreateKeyAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.CreateApiKeyRequest, _options.MaxBodyBytes, ct);
        if (body.Value is not { } request)
        {
            return body.Error!;
        }

        if (Validation.Key(request) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        var secret = Secrets.NewAdminKey();
        var record = new ApiKeyRecord(Secrets.NewId("key_"), request.Name, request.Role, Secrets.Hash(secret), time.GetUtcNow(), Revoked: false);
        await store.CreateApiKeyAsync(record, ct);
        await AuditAsync(context, "key.create", record.Id, $"name={record.Name} role={record.Role}");
        return FleetResults.Json(ToWire(record) with { Key = secret }, FleetJsonContext.Default.ApiKeyInfo, StatusCodes.Status201Created);
    }

    private async Task<IResult> ListKeysAsync(HttpContext context)
    {
        var keys = await store.ListApiKeysAsync(context.RequestAborted);
        return FleetResults.Json<IReadOnlyList<ApiKeyInfo>>([.. keys.Select(ToWire)], FleetJsonContext.Default.IReadOnlyListApiKeyInfo);
    }

    private async Task<IResult> RevokeKeyAsync(HttpContext context, string id)
    {
        if (!await store.RevokeApiKeyAsync(id, context.RequestAborted))
        {
            return FleetResults.NotFound($"no API key has id '{id}'");
        }

        await AuditAsync(context, "key.revoke", id, null);
        return TypedResults.NoContent();
    }

    private async Task<IResult> ListAuditAsync(HttpContext context)
    {
        if (!TryQuery(context, "limit", 100, 1, 1000, out var limit, out var error))
        {
            return error!;
        }

        var entries = await store.ListAuditAsync((int)limit, context.RequestAborted);
        return FleetResults.Json(entries, FleetJsonContext.Default.IReadOnlyListAuditEntry);
    }

    private async Task<(DeviceRecord? Device, IResult? Error)> FindDeviceAsync(string id, CancellationToken cancellationToken)
    {
        if (Validation.DeviceId(id) is { } problem)
        {
            return (null, FleetResults.BadRequest(problem));
        }

        var device = await store.GetDeviceAsync(id, cancellationToken);
        return device is null ? (null, FleetResults.NotFound($"no device has id '{id}'")) : (device, null);
    }

    private async Task AuditAsync(HttpContext context, string action, string target, string? detail)
    {
        var actor = context.Operator().Name;
        Log.Audited(logger, actor, action, target);
        await store.AppendAuditAsync(new AuditEntry { At = time.GetUtcNow(), Actor = actor, Action = action, Target = target, Detail = detail }, context.RequestAborted);
    }

    private static bool TryQuery(HttpContext context, string name, long fallback, long min, long max, out long value, out IResult? error)
    {
        error = null;
        var raw = context.Request.Query[name];
        if (raw.Count == 0)
        {
            value = fallback;
            return true;
        }

        if (raw.Count == 1 && long.TryParse(raw[0], NumberStyles.None | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value) && value >= min && value <= max)
        {
            return true;
        }

        value = 0;
        error = FleetResults.BadRequest($"query parameter '{name}' must be a whole number from {min} to {max}");
        return false;
    }

    private static EnrollmentToken ToWire(TokenRecord token) => new()
    {
        Id = token.Id,
        UsesLeft = token.UsesLeft,
        ExpiresAt = token.ExpiresAt,
        Tags = token.Tags,
        CreatedAt = token.CreatedAt,
    };

    private static ApiKeyInfo ToWire(ApiKeyRecord key) => new()
    {
        Id = key.Id,
        Name = key.Name,
        Role = key.Role,
        CreatedAt = key.CreatedAt,
        Revoked = key.Revoked,
    };
}
