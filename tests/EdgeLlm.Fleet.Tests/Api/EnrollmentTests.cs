using System.Net;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;

namespace EdgeLlm.Fleet.Tests.Api;

[Collection(PostgresClusterDefinition.Name)]
public sealed class EnrollmentTests(PostgresFixture postgres)
{
    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Valid_reused_unknown_expired_and_revoked_enrollments_get_distinct_answers(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var token = await server.CreateTokenAsync(uses: 1, tags: ["site-a", "line-2"]);
        Assert.StartsWith("eet_", token.Token);

        using var enrolled = await server.PostEnrollAsync(token.Token!, "pump-01");
        var response = await FleetTestServer.ReadAsync(enrolled, HttpStatusCode.Created, FleetJsonContext.Default.EnrollResponse);
        Assert.StartsWith("edc_", response.Credential);
        Assert.Equal(["site-a", "line-2"], response.Tags);
        using (var desired = await server.Client(response.Credential).GetAsync(FleetRoutes.Desired))
        {
            Assert.Equal(HttpStatusCode.OK, desired.StatusCode);
        }

        using var reused = await server.PostEnrollAsync(token.Token!, "pump-02");
        var usedUp = await FleetTestServer.ErrorAsync(reused, HttpStatusCode.Unauthorized, FleetErrorCodes.Unauthorized);
        Assert.Contains("used up", usedUp);

        using var unknown = await server.PostEnrollAsync("eet_neverIssuedByThisServer000000000", "pump-03");
        var unknownMessage = await FleetTestServer.ErrorAsync(unknown, HttpStatusCode.Unauthorized, FleetErrorCodes.Unauthorized);
        Assert.Contains("unknown", unknownMessage);

        var shortLived = await server.CreateTokenAsync(uses: 5, expiresInSeconds: 60);
        server.Time.Advance(TimeSpan.FromSeconds(61));
        using var expired = await server.PostEnrollAsync(shortLived.Token!, "pump-04");
        var expiredMessage = await FleetTestServer.ErrorAsync(expired, HttpStatusCode.Unauthorized, FleetErrorCodes.Unauthorized);
        Assert.Contains("expired", expiredMessage);
        Assert.Equal(3, new[] { usedUp, unknownMessage, expiredMessage }.Distinct().Count());

        using (var revoke = await server.Admin.PostAsync(FleetRoutes.DeviceRevoke("pump-01"), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        using (var afterRevoke = await server.Client(response.Credential).GetAsync(FleetRoutes.Desired))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, afterRevoke.StatusCode);
        }

        var fresh = await server.CreateTokenAsync();
        using var again = await server.PostEnrollAsync(fresh.Token!, "pump-01");
        await FleetTestServer.ErrorAsync(again, HttpStatusCode.Forbidden, FleetErrorCodes.Forbidden);

        using var badId = await server.PostEnrollAsync(fresh.Token!, "pump 01/../x");
        await FleetTestServer.ErrorAsync(badId, HttpStatusCode.BadRequest, FleetErrorCodes.InvalidRequest);

        var summaries = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Devices), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListDeviceSummary);
        var pump = Assert.Single(summaries);
        Assert.Equal("revoked", pump.State);
        Assert.Equal(["site-a", "line-2"], pump.Tags);

        var audit = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Audit), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListAuditEntry);
        Assert.Contains(audit, a => a is { Action: "device.revoke", Target: "pump-01", Actor: "admin" });
        Assert.Equal(3, audit.Count(a => a is { Action: "token.create", Actor: "admin" }));
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Rotating_the_credential_retires_the_old_one_at_once(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var device = await server.EnrollAsync("rotor-1");

        using var rotated = await device.Http.PostAsync(FleetRoutes.RotateCredential, null);
        var fresh = await FleetTestServer.ReadAsync(rotated, HttpStatusCode.OK, FleetJsonContext.Default.CredentialResponse);
        Assert.StartsWith("edc_", fresh.Credential);
        Assert.NotEqual(device.Credential, fresh.Credential);

        using (var old = await device.Http.GetAsync(FleetRoutes.Desired))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        }

        using (var current = await server.Client(fresh.Credential).GetAsync(FleetRoutes.Desired))
        {
            Assert.Equal(HttpStatusCode.OK, current.StatusCode);
        }

        using (var oldAgain = await device.Http.PostAsync(FleetRoutes.RotateCredential, null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, oldAgain.StatusCode);
        }
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Tokens_and_keys_can_be_listed_and_deleted_and_every_change_is_audited(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var token = await server.CreateTokenAsync(uses: 3, tags: ["x"]);
        var tokens = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Tokens), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListEnrollmentToken);
        var listed = Assert.Single(tokens);
        Assert.Equal(token.Id, listed.Id);
        Assert.Null(listed.Token);
        Assert.Equal(3, listed.UsesLeft);

        using (var deleted = await server.Admin.DeleteAsync($"{FleetRoutes.Tokens}/{token.Id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using (var gone = await server.PostEnrollAsync(token.Token!, "late-device"))
        {
            await FleetTestServer.ErrorAsync(gone, HttpStatusCode.Unauthorized, FleetErrorCodes.Unauthorized);
        }

        using (var missing = await server.Admin.DeleteAsync($"{FleetRoutes.Tokens}/{token.Id}"))
        {
            await FleetTestServer.ErrorAsync(missing, HttpStatusCode.NotFound, FleetErrorCodes.NotFound);
        }

        var op = await server.CreateKeyAsync(FleetRoles.Operator, "alice");
        var keys = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Keys), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListApiKeyInfo);
        Assert.Equal(["admin", "alice"], keys.Select(k => k.Name).Order());
        Assert.All(keys, k => Assert.Null(k.Key));

        await server.Client(op.Key).PostAsync(FleetRoutes.Tokens, FleetTestServer.RawJson("{}"));
        using (var revoke = await server.Admin.DeleteAsync($"{FleetRoutes.Keys}/{op.Id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var audit = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Audit), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListAuditEntry);
        var actions = audit.Select(a => $"{a.Actor} {a.Action} {a.Target}").Reverse().ToList();
        Assert.Equal(
            [$"admin token.create {token.Id}", $"admin token.delete {token.Id}", $"admin key.create {op.Id}", $"alice token.create {audit[1].Target}", $"admin key.revoke {op.Id}"],
            actions);
    }
}
