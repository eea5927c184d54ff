using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Api;
using EdgeLlm.Fleet.Storage;

namespace EdgeLlm.Fleet.Auth;

/// <summary>Endpoint metadata: the operator role a route needs (<see cref="FleetRoles"/>).</summary>
internal sealed record RequiresRole(string Role);

/// <summary>
/// All authorization of the API in one place. Operator routes carry <see cref="RequiresRole"/> and pass through
/// <see cref="OperatorFilter"/> (a route in the operator group without the metadata needs admin: fail closed);
/// device routes pass through <see cref="DeviceFilter"/>.
/// </summary>
internal static class FleetAuth
{
    private const string OperatorItem = "fleet.operator";
    private const string DeviceItem = "fleet.device";

    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, string role)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new RequiresRole(role));

    /// <summary>The operator's key, set by <see cref="OperatorFilter"/>.</summary>
    public static ApiKeyRecord Operator(this HttpContext context) =>
        context.Items[OperatorItem] as ApiKeyRecord ?? throw new InvalidOperationException("The route is not behind the operator filter.");

    /// <summary>The calling device, set by <see cref="DeviceFilter"/>.</summary>
    public static DeviceRecord Device(this HttpContext context) =>
        context.Items[DeviceItem] as DeviceRecord ?? throw new InvalidOperationException("The route is not behind the device filter.");

    /// <summary>The secret of <c>Authorization: Bearer …</c>, or null.</summary>
    public static string? BearerSecret(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var secret = header[scheme.Length..].Trim();
        return secret.Length is 0 or > Secrets.MaxLength ? null : secret;
    }

    /// <summary>The unrevoked API key with this secret, or null.</summary>
    public static async Task<ApiKeyRecord?> FindKeyAsync(IFleetStore store, string? secret, CancellationToken cancellationToken)
    {
        if (secret is null || !secret.StartsWith(Secrets.AdminKeyPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var key = await store.FindApiKeyAsync(Secrets.Hash(secret), cancellationToken);
        return key is { Revoked: false } ? key : null;
    }

    public static bool Allows(ApiKeyRecord key, string role) => FleetRoles.Rank(key.Role) >= FleetRoles.Rank(role) && FleetRoles.Rank(role) > 0;

    internal sealed class OperatorFilter(IFleetStore store) : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var http = context.HttpContext;
            var role = http.GetEndpoint()?.Metadata.GetMetadata<RequiresRole>()?.Role ?? FleetRoles.Admin;
            var key = await FindKeyAsync(store, BearerSecret(http.Request), http.RequestAborted);
            if (key is null)
            {
                return FleetResults.Error(StatusCodes.Status401Unauthorized, FleetErrorCodes.Unauthorized,
                    "an admin API key is required: send 'Authorization: Bearer eak_…'");
            }

            if (!Allows(key, role))
            {
                return FleetResults.Error(StatusCodes.Status403Forbidden, FleetErrorCodes.Forbidden,
                    $"this needs the {role} role; key '{key.Name}' has {key.Role}");
            }

            http.Items[OperatorItem] = key;
            return await next(context);
        }
    }

    internal sealed class DeviceFilter(IFleetStore store) : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var http = context.HttpContext;
            var secret = BearerSecret(http.Request);
            var device = secret is not null && secret.StartsWith(Secrets.DeviceCredentialPrefix, StringComparison.Ordinal)
                ? await store.FindDeviceByCredentialAsync(Secrets.Hash(secret), http.RequestAborted)
                : null;
            if (device is null or { Revoked: true })
            {
                return FleetResults.Error(StatusCodes.Status401Unauthorized, FleetErrorCodes.Unauthorized,
                    "a valid device credential is required: send 'Authorization: Bearer edc_…' (enroll first; revoked devices must be re-enrolled)");
            }

            http.Items[DeviceItem] = device;
            return await next(context);
        }
    }
}
