using System.Text.Json;
using System.Text.RegularExpressions;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Api;
using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Hosting;
using EdgeLlm.Fleet.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace EdgeLlm.Fleet.Bundles;

/// <summary>
/// The bundle registry: upload (streamed to disk, hashed by the server, verified against the trusted publisher keys),
/// list, versions, channels, and the content-addressed artifact download with HTTP Range.
/// </summary>
internal sealed partial class BundleApi(
    IFleetStore store,
    ArtifactStore artifacts,
    TimeProvider time,
    IOptions<BundleRegistryOptions> options,
    IOptions<FleetOptions> fleet,
    ILogger<BundleApi> logger)
{
    private const string OctetStream = "application/octet-stream";
    private readonly BundleRegistryOptions _options = options.Value;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.ServiceProvider.GetRequiredService<BundleApi>();
        var ops = app.MapGroup(BundleRoutes.Bundles).AddEndpointFilter<FleetAuth.OperatorFilter>().WithTags("Bundles").ProducesErrors(401, 403);
        ops.MapPost("", FleetResults.Handler(api.UploadAsync)).RequireRole(FleetRoles.Operator)
            .WithName("UploadBundle").WithSummary("Upload a signed bundle")
            .WithDescription("The raw .edgebundle as application/octet-stream. The server streams it to disk, computes its SHA-256 and verifies it against Fleet:TrustedPublisherKeys (signature, structure, every file's size and hash) before registering it. 200 when the same bytes are registered already; 409 when the name and version exist with other bytes.")
            .Produces<BundleInfo>(StatusCodes.Status201Created).Produces<BundleInfo>().ProducesErrors(400, 409, 413);
        ops.MapGet("", FleetResults.Handler(api.ListAsync)).RequireRole(FleetRoles.Viewer)
            .WithName("ListBundles").WithSummary("List bundles").WithDescription("Every bundle name with its newest version, version count and channels; ordered by name.")
            .Produces<IReadOnlyList<BundleSummary>>();
        ops.MapGet("/{name}", (HttpContext c, string name) => api.VersionsAsync(c, name)).RequireRole(FleetRoles.Viewer)
            .WithName("ListBundleVersions").WithSummary("List a bundle's versions").WithDescription("Every version of one bundle name, newest upload first, with the channels pointing at each.")
            .Produces<IReadOnlyList<BundleInfo>>().ProducesErrors(400, 404);
        ops.MapPut("/{name}/channels/{channel}", (HttpContext c, string name, string channel) => api.SetChannelAsync(c, name, channel)).RequireRole(FleetRoles.Operator)
            .WithName("SetBundleChannel").WithSummary("Point a channel at a version")
            .WithDescription("Channel 'stable' or 'beta' of the bundle name points at the given, registered version from now on.")
            .JsonBody<ChannelUpdate>().Produces<ChannelAssignment>().ProducesErrors(400, 404, 413);

        app.MapGet(BundleRoutes.Artifacts + "/{sha256}", (HttpContext c, string sha256) => api.DownloadAsync(c, sha256))
            .AddEndpointFilter<ArtifactReaderFilter>().RequireRole(FleetRoles.Viewer).WithTags("Bundles")
            .WithName("DownloadArtifact").WithSummary("Download an artifact by SHA-256")
            .WithDescription("The bundle's bytes, for a device credential or a viewer key. One byte range per request: 206 with Content-Range; an unsatisfiable range 416 with 'Content-Range: bytes */SIZE'. ETag is the quoted SHA-256; Accept-Ranges: bytes.")
            .Produces(StatusCodes.Status200OK, contentType: OctetStream).Produces(StatusCodes.Status206PartialContent, contentType: OctetStream)
            .ProducesErrors(400, 401, 403, 404, 416);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$")]
    private static partial Regex VersionPattern();

    private async Task<IResult> UploadAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var request = context.Request;
        var actor = context.Operator().Name;
        var max = _options.MaxBundleBytes;
        if (request.ContentLength > max)
        {
            return Refused(actor, FleetResults.TooLarge(new ArtifactTooLargeException(max).Message), "over the size cap");
        }

        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media) || !media.MediaType.Equals(OctetStream, StringComparison.OrdinalIgnoreCase))
        {
            return FleetResults.BadRequest($"send the .edgebundle file itself as the body, with 'Content-Type: {OctetStream}'");
        }

        using var trust = _options.LoadTrust();
        if (trust.KeyIds.Count == 0)
        {
            return FleetResults.BadRequest("no publisher key is trusted, so no bundle can be accepted: set Fleet:TrustedPublisherKeys and restart the server");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            // The server-wide limit suits JSON; a bundle may be gigabytes. The stream below counts bytes itself too.
            limit.MaxRequestBodySize = max;
        }

        IncomingArtifact? incoming = null;
        try
        {
            try
            {
                incoming = await artifacts.ReceiveAsync(request.Body, max, ct);
            }
            catch (ArtifactTooLargeException ex)
            {
                return Refused(actor, FleetResults.TooLarge(ex.Message), "over the size cap");
            }
            catch (BadHttpRequestException ex)
            {
                return ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? Refused(actor, FleetResults.TooLarge(new ArtifactTooLargeException(max).Message), "over the size cap")
                    : Refused(actor, FleetResults.BadRequest("the upload ended early or was malformed: send the whole file again"), "body unreadable");
            }

            return await RegisterAsync(context, incoming, trust, actor);
        }
        finally
        {
            // Deletes the received file unless it was committed to its address.
            incoming?.Dispose();
        }
    }

    private async Task<IResult> RegisterAsync(HttpContext context, IncomingArtifact incoming, BundleTrust trust, string actor)
    {
        var ct = context.RequestAborted;
        if (incoming.Size == 0)
        {
            return FleetResults.BadRequest("the request body is empty: send the .edgebundle file");
        }

        VerifiedBundle verified;
        try
        {
            verified = await new BundleReader(trust).VerifyAsync(incoming.TempPath, ct);
        }
        catch (BundleRejectedException ex)
        {
            return Refused(actor, FleetResults.BadRequest($"the bundle was refused ({ex.Code}): {ex.Message}"), ex.Code);
        }

        var manifest = verified.Manifest;
        var record = new BundleRecord(manifest.Name, manifest.Version, KindName(manifest.Kind), incoming.Sha256, incoming.Size, verified.KeyId,
            JsonSerializer.Serialize(manifest, BundleJsonContext.Default.BundleManifest), time.GetUtcNow(), actor);
        if (await store.GetBundleAsync(record.Name, record.Version, ct) is { } existing)
        {
            return existing.Sha256 == record.Sha256 ? await InfoResultAsync(existing, StatusCodes.Status200OK, ct) : Conflict(existing);
        }

        incoming.Commit();
        switch (await store.AddBundleAsync(record, ct))
        {
            case BundleAddOutcome.Added:
                break;
            case BundleAddOutcome.AlreadyPresent:
                return await InfoResultAsync(record, StatusCodes.Status200OK, ct);
            default:
                // Another upload of this name and version won the race; the artifact file stays (content-addressed, harmless).
                return Conflict((await store.GetBundleAsync(record.Name, record.Version, ct))!);
        }

        BundleLog.Uploaded(logger, record.Name, record.Version, actor, record.Size, record.Sha256, record.KeyId);
        await AuditAsync(context, "bundle.upload", $"{record.Name}@{record.Version}", $"sha256={record.Sha256} size={record.Size} key={record.KeyId}");
        return await InfoResultAsync(record, StatusCodes.Status201Created, ct);
    }

    private async Task<IResult> ListAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var bundles = await store.ListBundlesAsync(null, ct);
        var channels = await store.ListChannelsAsync(null, ct);
        var summaries = bundles.GroupBy(b => b.Name, StringComparer.Ordinal).Select(versions =>
        {
            var own = channels.Where(c => c.Name == versions.Key).ToList();
            var latest = versions.First();
            return new BundleSummary
            {
                Name = versions.Key,
                Kind = latest.Kind,
                Versions = versions.Count(),
                Latest = ToWire(latest, own),
                Channels = [.. own.Select(c => ToWire(c, versions.First(v => v.Version == c.Version)))],
            };
        }).ToList();
        return FleetResults.Json<IReadOnlyList<BundleSummary>>(summaries, FleetJsonContext.Default.IReadOnlyListBundleSummary);
    }

    private async Task<IResult> VersionsAsync(HttpContext context, string name)
    {
        var ct = context.RequestAborted;
        if (NameProblem(name) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        var versions = await store.ListBundlesAsync(name, ct);
        if (versions.Count == 0)
        {
            return FleetResults.NotFound($"no bundle is named '{name}'");
        }

        var channels = await store.ListChannelsAsync(name, ct);
        return FleetResults.Json<IReadOnlyList<BundleInfo>>([.. versions.Select(v => ToWire(v, channels))], FleetJsonContext.Default.IReadOnlyListBundleInfo);
    }

    private async Task<IResult> SetChannelAsync(HttpContext context, string name, string channel)
    {
        var ct = context.RequestAborted;
        if (NameProblem(name) is { } problem)
        {
            return FleetResults.BadRequest(problem);
        }

        if (!BundleChannels.IsKnown(channel))
        {
            return FleetResults.BadRequest($"channel must be one of {string.Join(", ", BundleChannels.All)}, not '{channel}'");
        }

        var body = await RequestBody.ReadJsonAsync(context.Request, FleetJsonContext.Default.ChannelUpdate, fleet.Value.MaxBodyBytes, ct);
        if (body.Value is not { } update)
        {
            return body.Error!;
        }

        if (!VersionPattern().IsMatch(update.Version))
        {
            return FleetResults.BadRequest("version must be 1 to 64 characters of letters, digits, '.', '+' and '-'");
        }

        var record = new ChannelRecord(name, channel, update.Version, time.GetUtcNow(), context.Operator().Name);
        if (!await store.SetChannelAsync(record, ct))
        {
            return FleetResults.NotFound($"bundle '{name}' has no version '{update.Version}': upload it first");
        }

        var bundle = (await store.GetBundleAsync(name, update.Version, ct))!;
        await AuditAsync(context, "bundle.channel", name, $"channel={channel} version={update.Version} sha256={bundle.Sha256}");
        return FleetResults.Json(ToWire(record, bundle), FleetJsonContext.Default.ChannelAssignment);
    }

    private async Task<IResult> DownloadAsync(HttpContext context, string sha256)
    {
        if (!ArtifactStore.IsSha256(sha256))
        {
            return FleetResults.BadRequest("the artifact address must be a SHA-256: 64 lowercase hex digits");
        }

        if (await store.FindBundleBySha256Async(sha256, context.RequestAborted) is null)
        {
            return FleetResults.NotFound($"no artifact has SHA-256 {sha256}");
        }

        var path = artifacts.PathOf(sha256);
        if (!File.Exists(path))
        {
            BundleLog.ArtifactFileMissing(logger, sha256, path);
            return FleetResults.NotFound($"artifact {sha256} is registered but its file is missing on this server (see Fleet:ArtifactsDir)");
        }

        // Kestrel's file result does the Range work: one range → 206 + Content-Range, unsatisfiable → 416, several → the
        // whole file, If-Range and If-None-Match against the ETag, Accept-Ranges: bytes. The bytes go out in large pieces.
        LargeChunkFileBody.Install(context);
        return TypedResults.PhysicalFile(path, OctetStream, entityTag: new EntityTagHeaderValue($"\"{sha256}\""), enableRangeProcessing: true);
    }

    private async Task<IResult> InfoResultAsync(BundleRecord record, int status, CancellationToken cancellationToken)
    {
        var channels = await store.ListChannelsAsync(record.Name, cancellationToken);
        return FleetResults.Json(ToWire(record, channels), FleetJsonContext.Default.BundleInfo, status);
    }

    private static IResult Conflict(BundleRecord existing) => FleetResults.Error(StatusCodes.Status409Conflict, FleetErrorCodes.Conflict,
        $"bundle {existing.Name} {existing.Version} is registered with other content (sha256 {existing.Sha256}): publish a new version instead");

    private IResult Refused(string actor, IResult result, string reason)
    {
        BundleLog.UploadRefused(logger, actor, reason);
        return result;
    }

    private async Task AuditAsync(HttpContext context, string action, string target, string detail)
    {
        var actor = context.Operator().Name;
        Log.Audited(logger, actor, action, target);
        await store.AppendAuditAsync(new AuditEntry { At = time.GetUtcNow(), Actor = actor, Action = action, Target = target, Detail = detail }, context.RequestAborted);
    }

    private static string? NameProblem(string name) =>
        NamePattern().IsMatch(name) ? null : "a bundle name is 1 to 64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit";

    private static string KindName(BundleKind kind) => kind switch
    {
        BundleKind.Model => "model",
        BundleKind.Adapter => "adapter",
        BundleKind.Manuals => "manuals",
        BundleKind.Config => "config",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static BundleInfo ToWire(BundleRecord b, IEnumerable<ChannelRecord> channels) => new()
    {
        Name = b.Name,
        Version = b.Version,
        Kind = b.Kind,
        Sha256 = b.Sha256,
        Size = b.Size,
        KeyId = b.KeyId,
        UploadedAt = b.UploadedAt,
        UploadedBy = b.UploadedBy,
        Channels = [.. channels.Where(c => c.Name == b.Name && c.Version == b.Version).Select(c => c.Channel)],
    };

    private static ChannelAssignment ToWire(ChannelRecord c, BundleRecord bundle) => new()
    {
        Name = c.Name,
        Channel = c.Channel,
        Version = c.Version,
        Sha256 = bundle.Sha256,
        UpdatedAt = c.UpdatedAt,
        UpdatedBy = c.UpdatedBy,
    };
}
