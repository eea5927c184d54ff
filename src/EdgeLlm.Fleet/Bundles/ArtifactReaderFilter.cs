using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Api;
using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Storage;

namespace EdgeLlm.Fleet.Bundles;

/// <summary>
/// Artifact downloads are for devices (an unrevoked device credential) and operators (a key with the route's
/// <see cref="RequiresRole"/>, viewer); anything else is 401, a key below the role 403.
/// </summary>
internal sealed class ArtifactReaderFilter(IFleetStore store) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var secret = FleetAuth.BearerSecret(http.Request);
        if (secret is not null && secret.StartsWith(Secrets.DeviceCredentialPrefix, StringComparison.Ordinal))
        {
            var device = await store.FindDeviceByCredentialAsync(Secrets.Hash(secret), http.RequestAborted);
            return device is { Revoked: false } ? await next(context) : Unauthorized();
        }

        var key = await FleetAuth.FindKeyAsync(store, secret, http.RequestAborted);
        if (key is null)
        {
            return Unauthorized();
        }

        var role = http.GetEndpoint()?.Metadata.GetMetadata<RequiresRole>()?.Role ?? FleetRoles.Admin;
        return FleetAuth.Allows(key, role)
            ? await next(context)
            : FleetResults.Error(StatusCodes.Status403Forbidden, FleetErrorCodes.Forbidden, $"this needs the {role} role; key '{key.Name}' has {key.Role}");
    }

    private static IResult Unauthorized() => FleetResults.Error(StatusCodes.Status401Unauthorized, FleetErrorCodes.Unauthorized,
        "a device credential (Bearer edc_…) or an admin API key (Bearer eak_…) is required");
}
