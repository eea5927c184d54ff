using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Hosting;
using EdgeLlm.Fleet.Storage;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace EdgeLlm.Fleet.Api;

/// <summary>The routes devices call: enrollment (token in the body), then everything with the device credential.</summary>
internal sealed class DeviceApi(IFleetStore store, TimeProvider time, IOptions<FleetOptions> options, TelemetryRateLimiter limiter, ILogger<DeviceApi> logger, Rollouts.RolloutTrigger? rollouts = null)
{
    private readonly FleetOptions _options = options.Value;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.ServiceProvider.GetRequiredService<DeviceApi>();
        app.MapPost(FleetRoutes.Enroll, FleetResults.Handler(api.EnrollAsync))
            .WithName("Enroll").WithTags("Device")
            .WithSummary("Enroll a device with an enrollment token")
            .WithDescription("Presents an operator's enrollment token, the device id and hardware facts; returns the device credential (shown once). 401 for an unknown, used-up or expired token, 403 for a revoked device.")
            .JsonBody<EnrollRequest>()
            .Produces<EnrollResponse>(StatusCodes.Status201Created)
            .ProducesErrors(400, 401, 403, 413);

        var device = app.MapGroup("").AddEndpointFilter<FleetAuth.DeviceFilter>().WithTags("Device");
        device.MapPost(FleetRoutes.Telemetry, FleetResults.Handler(api.TelemetryAsync))
            .WithName("PostTelemetry")
            .WithSummary("Upload a telemetry batch")
            .WithDescription("Stores metrics and events idempotently by (device, seq): repeats are acknowledged as duplicates. At most 1000 items and 1 MiB; rate limited per device (429 with Retry-After).")
            .JsonBody<TelemetryBatch>()
            .Produces<TelemetryAck>()
            .ProducesErrors(400, 401, 413, 429);
        device.MapGet(FleetRoutes.Desired, FleetResults.Handler(api.DesiredAsync))
            .WithName("GetDesiredState")
            .WithSummary("Poll the desired state")
            .WithDescription("The state the operator wants the device in, with ETag \"{revision}\"; 304 when If-None-Match matches. Counts as a sign of life.")
            .Produces<DesiredState>()
            .Produces(StatusCodes.Status304NotModified)
            .ProducesErrors(401);
        device.MapPut(FleetRoutes.Reported, FleetResults.Handler(api.ReportedAsync))
            .WithName("PutReportedState")
            .WithSummary("Report what the device runs")
            .WithDescription("Applied revision, model, adapters, agent version, health and recent errors.")
            .JsonBody<ReportedState>()
            .Produces(StatusCodes.Status204NoContent)
            .ProducesErrors(400, 401, 413);
        device.MapPost(FleetRoutes.RotateCredential, FleetResults.Handler(api.RotateAsync))
            .WithName("RotateCredential")
            .WithSummary("Rotate the device credential")
            .WithDescription("Returns a new credential; the one used for this call stops working at once.")
            .Produces<CredentialResponse>()
            .ProducesErrors(401, 409);
    }

    private async Task<IResult> EnrollAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.EnrollRequest, _options.MaxBodyBytes, ct);
        if (body.Value is not { } parsed)
        {
            return body.Error!;
        }

        var request = parsed;
        if (Validation.Enroll(request) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        var credential = Secrets.NewDeviceCredential();
        var tokenHash = Secrets.Hash(request.Token);
        var result = await store.EnrollAsync(tokenHash, new DeviceEnrollment(request.DeviceId, Secrets.Hash(credential), request.Hardware), time.GetUtcNow(), ct);
        if (result.Outcome != EnrollOutcome.Enrolled)
        {
            Log.EnrollRefused(logger, request.DeviceId, result.Outcome.ToString());
        }

        switch (result.Outcome)
        {
            case EnrollOutcome.Enrolled:
                break;
            case EnrollOutcome.UnknownToken:
                return Unauthorized("the enrollment token is unknown: ask an operator for a token (edgellm fleet tokens create)");
            case EnrollOutcome.TokenUsedUp:
                return Unauthorized("the enrollment token has been used up: ask an operator for a new one");
            case EnrollOutcome.TokenExpired:
                return Unauthorized("the enrollment token has expired: ask an operator for a new one");
            case EnrollOutcome.DeviceRevoked:
                return FleetResults.Error(StatusCodes.Status403Forbidden, FleetErrorCodes.Forbidden,
                    $"device '{request.DeviceId}' is revoked and cannot enroll again under this id");
            default:
                throw new InvalidOperationException($"Unknown enroll outcome {result.Outcome}.");
        }

        Log.DeviceEnrolled(logger, request.DeviceId, tokenHash[..8]);
        await store.AppendAuditAsync(new AuditEntry
        {
            At = time.GetUtcNow(),
            Actor = $"device:{request.DeviceId}",
            Action = "device.enroll",
            Target = request.DeviceId,
        }, ct);
        return FleetResults.Json(
            new EnrollResponse { DeviceId = request.DeviceId, Credential = credential, Tags = result.Tags },
            FleetJsonContext.Default.EnrollResponse,
            StatusCodes.Status201Created);
    }

    private async Task<IResult> TelemetryAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var device = context.Device();
        if (limiter.TryAcquire(device.DeviceId) is { } retryAfter)
        {
            Log.TelemetryRateLimited(logger, device.DeviceId);
            context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return FleetResults.Error(StatusCodes.Status429TooManyRequests, FleetErrorCodes.RateLimited,
                $"too many telemetry batches from '{device.DeviceId}': retry after {retryAfter} s");
        }

        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.TelemetryBatch, _options.MaxTelemetryBodyBytes, ct);
        if (body.Value is not { } batch)
        {
            return body.Error!;
        }

        if (batch.Items?.Count > _options.MaxTelemetryItems)
        {
            return FleetResults.TooLarge($"a batch holds at most {_options.MaxTelemetryItems} items, this one {batch.Items.Count}");
        }

        if (Validation.Telemetry(batch) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        var ack = await store.AppendTelemetryAsync(device.DeviceId, batch.Items!, time.GetUtcNow(), ct);
        Log.TelemetryStored(logger, device.DeviceId, ack.Accepted, ack.Duplicates);
        return FleetResults.Json(ack, FleetJsonContext.Default.TelemetryAck);
    }

    private async Task<IResult> DesiredAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var device = context.Device();
        await store.TouchAsync(device.DeviceId, time.GetUtcNow(), ct);
        var desired = await store.GetDesiredAsync(device.DeviceId, ct);
        var etag = new EntityTagHeaderValue($"\"{desired.Revision}\"");
        context.Response.Headers.ETag = etag.ToString();
        if (EntityTagHeaderValue.TryParseList(context.Request.Headers.IfNoneMatch, out var tags)
            && tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(etag, useStrongComparison: false)))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        return FleetResults.Json(desired, FleetJsonContext.Default.DesiredState);
    }

    private async Task<IResult> ReportedAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var device = context.Device();
        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.ReportedState, _options.MaxBodyBytes, ct);
        if (body.Value is not { } parsed)
        {
            return body.Error!;
        }

        var reported = parsed;
        if (Validation.Reported(reported) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        // The contract keeps the ten newest errors.
        var kept = reported.Errors.Count > 10 ? reported with { Errors = [.. reported.Errors.Take(10)] } : reported;
        await store.SetReportedAsync(device.DeviceId, kept, time.GetUtcNow(), ct);
        // A device reports when its update ends: a failing canary halts its rollout now, not at the next period.
        rollouts?.Signal();
        return TypedResults.NoContent();
    }

    private async Task<IResult> RotateAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var device = context.Device();
        var credential = Secrets.NewDeviceCredential();
        if (!await store.RotateCredentialAsync(device.DeviceId, device.CredentialHash, Secrets.Hash(credential), ct))
        {
            return FleetResults.Error(StatusCodes.Status409Conflict, FleetErrorCodes.Conflict,
                "the credential changed while rotating (another rotation or a revocation): use the newest credential");
        }

        Log.CredentialRotated(logger, device.DeviceId);
        await store.AppendAuditAsync(new AuditEntry
        {
            At = time.GetUtcNow(),
            Actor = $"device:{device.DeviceId}",
            Action = "device.rotate_credential",
            Target = device.DeviceId,
        }, ct);
        return FleetResults.Json(new CredentialResponse { Credential = credential }, FleetJsonContext.Default.CredentialResponse);
    }

    private static IResult Unauthorized(string message) => FleetResults.Error(StatusCodes.Status401Unauthorized, FleetErrorCodes.Unauthorized, message);
}
