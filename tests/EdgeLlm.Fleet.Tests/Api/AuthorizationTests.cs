using System.Net;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace EdgeLlm.Fleet.Tests.Api;

[Collection(PostgresClusterDefinition.Name)]
public sealed class AuthorizationTests(PostgresFixture postgres)
{
    /// <summary>Every operator route and the role it needs. A route added to the server but not here fails <see cref="Every_api_route_is_in_the_authorization_table"/>.</summary>
    private static readonly (string Method, string Pattern, string Role)[] OperatorRoutes =
    [
        ("POST", "/api/v1/tokens", FleetRoles.Operator),
        ("GET", "/api/v1/tokens", FleetRoles.Viewer),
        ("DELETE", "/api/v1/tokens/{id}", FleetRoles.Operator),
        ("GET", "/api/v1/devices", FleetRoles.Viewer),
        ("GET", "/api/v1/devices/{id}", FleetRoles.Viewer),
        ("PUT", "/api/v1/devices/{id}/desired", FleetRoles.Operator),
        ("POST", "/api/v1/devices/{id}/revoke", FleetRoles.Operator),
        ("GET", "/api/v1/devices/{id}/telemetry", FleetRoles.Viewer),
        ("POST", "/api/v1/keys", FleetRoles.Admin),
        ("GET", "/api/v1/keys", FleetRoles.Admin),
        ("DELETE", "/api/v1/keys/{id}", FleetRoles.Admin),
        ("GET", "/api/v1/audit", FleetRoles.Admin),
        ("POST", "/api/v1/bundles", FleetRoles.Operator),
        ("GET", "/api/v1/bundles", FleetRoles.Viewer),
        ("GET", "/api/v1/bundles/{name}", FleetRoles.Viewer),
        ("PUT", "/api/v1/bundles/{name}/channels/{channel}", FleetRoles.Operator),
        ("POST", "/api/v1/rollouts", FleetRoles.Operator),
        ("GET", "/api/v1/rollouts", FleetRoles.Viewer),
        ("GET", "/api/v1/rollouts/{id}", FleetRoles.Viewer),
        ("POST", "/api/v1/rollouts/{id}/pause", FleetRoles.Operator),
        ("POST", "/api/v1/rollouts/{id}/resume", FleetRoles.Operator),
        ("POST", "/api/v1/rollouts/{id}/abort", FleetRoles.Operator),
        ("POST", "/api/v1/rollouts/{id}/rollback", FleetRoles.Operator),
        ("POST", "/api/v1/rollouts/{id}/step", FleetRoles.Operator),
    ];

    /// <summary>Routes for a device credential or a viewer key (checked in Bundles/BundleRegistryTests).</summary>
    private static readonly string[] DeviceOrViewerRoutes = ["GET /api/v1/artifacts/{sha256}"];

    /// <summary>Routes a device calls with its credential (enroll presents a token in the body instead).</summary>
    private static readonly (string Method, string Pattern)[] DeviceRoutes =
    [
        ("POST", FleetRoutes.Telemetry),
        ("GET", FleetRoutes.Desired),
        ("PUT", FleetRoutes.Reported),
        ("POST", FleetRoutes.RotateCredential),
    ];

    [Fact]
    public async Task Every_api_route_is_in_the_authorization_table()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var mapped = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith(FleetRoutes.Prefix, StringComparison.Ordinal) == true)
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} {e.RoutePattern.RawText!.TrimEnd('/')}"))
            .Order()
            .ToList();
        var known = OperatorRoutes.Select(r => $"{r.Method} {r.Pattern}")
            .Concat(DeviceRoutes.Select(r => $"{r.Method} {r.Pattern}"))
            .Append($"POST {FleetRoutes.Enroll}")
            .Concat(DeviceOrViewerRoutes)
            .Order()
            .ToList();
        Assert.Equal(known, mapped);
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Every_operator_route_refuses_missing_garbage_revoked_and_too_low_keys(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var viewer = server.Client((await server.CreateKeyAsync(FleetRoles.Viewer)).Key);
        var op = server.Client((await server.CreateKeyAsync(FleetRoles.Operator)).Key);
        var revokedKey = await server.CreateKeyAsync(FleetRoles.Admin, "soon-revoked");
        using (var revoke = await server.Admin.DeleteAsync($"{FleetRoutes.Keys}/{revokedKey.Id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var unauthenticated = new Dictionary<string, HttpClient>
        {
            ["no key"] = server.Anonymous,
            ["garbage key"] = server.Client("eak_thisIsNotAKeyTheServerEverIssuedAAAAAAAAAAAA"),
            ["not a bearer"] = server.Client(null),
            ["revoked key"] = server.Client(revokedKey.Key),
        };
        unauthenticated["not a bearer"].DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Basic " + server.AdminKey);
        var device = await server.EnrollAsync("authz-device");
        unauthenticated["device credential"] = device.Http;

        foreach (var (method, pattern, role) in OperatorRoutes)
        {
            foreach (var (who, client) in unauthenticated)
            {
                using var response = await SendAsync(client, method, pattern);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {pattern} with {who}: {(int)response.StatusCode}");
                await FleetTestServer.ErrorAsync(response, HttpStatusCode.Unauthorized, FleetErrorCodes.Unauthorized);
            }

            var rank = FleetRoles.Rank(role);
            foreach (var (keyRole, client) in new[] { (FleetRoles.Viewer, viewer), (FleetRoles.Operator, op), (FleetRoles.Admin, server.Admin) })
            {
                using var response = await SendAsync(client, method, pattern);
                if (FleetRoles.Rank(keyRole) < rank)
                {
                    Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{method} {pattern} as {keyRole}: {(int)response.StatusCode}");
                    await FleetTestServer.ErrorAsync(response, HttpStatusCode.Forbidden, FleetErrorCodes.Forbidden);
                }
                else
                {
                    Assert.True(response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.InternalServerError),
                        $"{method} {pattern} as {keyRole} must be allowed: {(int)response.StatusCode}");
                }
            }
        }
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Every_device_route_refuses_missing_garbage_admin_and_revoked_credentials(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var revoked = await server.EnrollAsync("to-be-revoked");
        using (var revoke = await server.Admin.PostAsync(FleetRoutes.DeviceRevoke(revoked.DeviceId), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var refused = new Dictionary<string, HttpClient>
        {
            ["no credential"] = server.Anonymous,
            ["garbage credential"] = server.Client("edc_garbageGarbageGarbageGarbageGarbageGarbage1"),
            ["admin key"] = server.Admin,
            ["revoked device"] = revoked.Http,
        };
        foreach (var (method, pattern) in DeviceRoutes)
        {
            foreach (var (who, client) in refused)
            {
                using var response = await SendAsync(client, method, pattern);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {pattern} with {who}: {(int)response.StatusCode}");
                await FleetTestServer.ErrorAsync(response, HttpStatusCode.Unauthorized, FleetErrorCodes.Unauthorized);
            }
        }
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string method, string pattern)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), pattern.Replace("{id}", "authz-device", StringComparison.Ordinal));
        if (method is "POST" or "PUT")
        {
            request.Content = FleetTestServer.RawJson("{}");
        }

        return client.SendAsync(request);
    }
}
