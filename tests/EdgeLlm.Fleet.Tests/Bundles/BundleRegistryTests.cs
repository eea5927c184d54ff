using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Api;
using EdgeLlm.Fleet.Tests.Support;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Fleet.Tests.Bundles;

/// <summary>The bundle registry through the real server: bundles made with the real writer and keys.</summary>
[Collection(PostgresClusterDefinition.Name)]
public sealed class BundleRegistryTests(PostgresFixture postgres) : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly BundleSigningKey _publisher = BundleSigningKey.Generate();

    private string ArtifactsDir => Path.Combine(_dir.Path, "artifacts");

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Upload_list_versions_and_channels_with_audit(StoreKind kind)
    {
        await using var server = await StartAsync(kind);
        var op = server.Client((await server.CreateKeyAsync(FleetRoles.Operator, "release-bot")).Key);
        var v1 = await MakeBundleAsync("qwen3", "1.0.0");
        var v2 = await MakeBundleAsync("qwen3", "1.1.0");

        var first = await UploadAsync(op, v1, HttpStatusCode.Created);
        server.Time.Advance(TimeSpan.FromMinutes(1));
        var second = await UploadAsync(op, v2, HttpStatusCode.Created);
        var again = await UploadAsync(op, v1, HttpStatusCode.OK);

        Assert.Equal(Sha(v1), first.Sha256);
        Assert.Equal(v1.Length, first.Size);
        Assert.Equal(("qwen3", "1.0.0", "model", _publisher.KeyId, "release-bot"), (first.Name, first.Version, first.Kind, first.KeyId, first.UploadedBy));
        Assert.Equal(first.Sha256, again.Sha256);
        Assert.Equal(v1, await File.ReadAllBytesAsync(Path.Combine(ArtifactsDir, first.Sha256)));

        using (var put = await op.PutAsync(BundleRoutes.Channel("qwen3", BundleChannels.Stable), FleetTestServer.RawJson("""{"version":"1.0.0"}""")))
        {
            var assigned = await FleetTestServer.ReadAsync(put, HttpStatusCode.OK, FleetJsonContext.Default.ChannelAssignment);
            Assert.Equal((BundleChannels.Stable, "1.0.0", first.Sha256), (assigned.Channel, assigned.Version, assigned.Sha256));
        }

        using (var put = await op.PutAsync(BundleRoutes.Channel("qwen3", BundleChannels.Beta), FleetTestServer.RawJson("""{"version":"1.1.0"}""")))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var put = await op.PutAsync(BundleRoutes.Channel("qwen3", "nightly"), FleetTestServer.RawJson("""{"version":"1.1.0"}""")))
        {
            Assert.Contains("stable, beta", await FleetTestServer.ErrorAsync(put, HttpStatusCode.BadRequest, FleetErrorCodes.InvalidRequest), StringComparison.Ordinal);
        }

        using (var put = await op.PutAsync(BundleRoutes.Channel("qwen3", BundleChannels.Stable), FleetTestServer.RawJson("""{"version":"9.0.0"}""")))
        {
            await FleetTestServer.ErrorAsync(put, HttpStatusCode.NotFound, FleetErrorCodes.NotFound);
        }

        using (var list = await server.Admin.GetAsync(BundleRoutes.Bundles))
        {
            var summary = Assert.Single(await FleetTestServer.ReadAsync(list, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListBundleSummary));
            Assert.Equal(("qwen3", 2, "1.1.0"), (summary.Name, summary.Versions, summary.Latest.Version));
            Assert.Equal(["beta=1.1.0", "stable=1.0.0"], summary.Channels.Select(c => $"{c.Channel}={c.Version}"));
        }

        using (var versions = await server.Admin.GetAsync(BundleRoutes.Bundle("qwen3")))
        {
            var all = await FleetTestServer.ReadAsync(versions, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListBundleInfo);
            Assert.Equal(["1.1.0:beta", "1.0.0:stable"], all.Select(v => $"{v.Version}:{string.Join(",", v.Channels)}"));
            Assert.Equal(second.Sha256, all[0].Sha256);
        }

        using (var missing = await server.Admin.GetAsync(BundleRoutes.Bundle("nope")))
        {
            await FleetTestServer.ErrorAsync(missing, HttpStatusCode.NotFound, FleetErrorCodes.NotFound);
        }

        using var audit = await server.Admin.GetAsync(FleetRoutes.Audit);
        var entries = await FleetTestServer.ReadAsync(audit, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListAuditEntry);
        Assert.Equal(["bundle.channel qwen3", "bundle.channel qwen3", "bundle.upload qwen3@1.1.0", "bundle.upload qwen3@1.0.0"],
            entries.Where(e => e.Action.StartsWith("bundle.", StringComparison.Ordinal)).Select(e => $"{e.Action} {e.Target}"));
        Assert.All(entries.Where(e => e.Action.StartsWith("bundle.", StringComparison.Ordinal)), e => Assert.Equal("release-bot", e.Actor));
    }

    [Fact]
    public async Task A_desired_state_naming_a_registered_bundle_without_its_hash_gets_the_hash()
    {
        await using var server = await StartAsync(StoreKind.Sqlite);
        var uploaded = await UploadAsync(server.Admin, await MakeBundleAsync("qwen3", "1.0.0"), HttpStatusCode.Created);
        var config = await UploadAsync(server.Admin, await MakeBundleAsync("plant-config", "2.0.0", kind: BundleKind.Config), HttpStatusCode.Created);
        await server.EnrollAsync("dev-1");
        var update = new DesiredStateUpdate
        {
            Model = new ArtifactRef { Name = "qwen3", Version = "1.0.0" },
            Adapters = [new ArtifactRef { Name = "not-registered", Version = "1.0.0" }],
            ConfigBundle = new ArtifactRef { Name = "plant-config", Version = "2.0.0" },
        };

        using var response = await server.Admin.PutAsync(FleetRoutes.DeviceDesired("dev-1"), FleetTestServer.Json(update, FleetJsonContext.Default.DesiredStateUpdate));
        var desired = await FleetTestServer.ReadAsync(response, HttpStatusCode.OK, FleetJsonContext.Default.DesiredState);

        Assert.Equal(uploaded.Sha256, desired.Model!.Sha256);
        Assert.Null(Assert.Single(desired.Adapters).Sha256);
        Assert.Equal(config.Sha256, desired.ConfigBundle!.Sha256);
    }

    [Fact]
    public async Task The_same_name_and_version_with_other_bytes_is_a_conflict()
    {
        await using var server = await StartAsync(StoreKind.Sqlite);
        await UploadAsync(server.Admin, await MakeBundleAsync("qwen3", "1.0.0"), HttpStatusCode.Created);
        var other = await MakeBundleAsync("qwen3", "1.0.0", payload: "different");

        using var response = await PostAsync(server.Admin, other);

        await FleetTestServer.ErrorAsync(response, HttpStatusCode.Conflict, FleetErrorCodes.Conflict);
        Assert.Single(Directory.EnumerateFiles(ArtifactsDir, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_artifact_of_several_send_chunks_arrives_whole_and_in_ranges_across_chunk_boundaries()
    {
        await using var server = await StartAsync(StoreKind.Sqlite);
        var chunk = EdgeLlm.Fleet.Bundles.LargeChunkFileBody.ChunkBytes;
        var bytes = await MakeBundleAsync("big", "1.0.0", payload: Convert.ToBase64String(RandomNumberGenerator.GetBytes(chunk * 2)));
        var sha = (await UploadAsync(server.Admin, bytes, HttpStatusCode.Created)).Sha256;
        var device = await server.EnrollAsync("dev-big");
        var n = bytes.Length;
        Assert.True(n > chunk * 2, $"the bundle is {n} bytes");

        using (var whole = await device.Http.GetAsync(BundleRoutes.Artifact(sha)))
        {
            Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
            Assert.Equal(n, whole.Content.Headers.ContentLength);
            Assert.Equal(bytes, await whole.Content.ReadAsByteArrayAsync());
        }

        await AssertRangeAsync(device.Http, sha, $"bytes={chunk - 10}-{chunk + 9}", bytes, chunk - 10, chunk + 9);
        await AssertRangeAsync(device.Http, sha, $"bytes={chunk + 1}-", bytes, chunk + 1, n - 1);
        await AssertRangeAsync(device.Http, sha, $"bytes=-{chunk + 3}", bytes, n - chunk - 3, n - 1);
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Artifacts_are_served_with_single_ranges_to_devices_and_viewers(StoreKind kind)
    {
        await using var server = await StartAsync(kind);
        var bytes = await MakeBundleAsync("qwen3", "1.0.0");
        var sha = (await UploadAsync(server.Admin, bytes, HttpStatusCode.Created)).Sha256;
        var device = await server.EnrollAsync("dev-1");
        var viewer = server.Client((await server.CreateKeyAsync(FleetRoles.Viewer)).Key);
        var n = bytes.Length;

        using (var whole = await device.Http.GetAsync(BundleRoutes.Artifact(sha)))
        {
            Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
            Assert.Equal(bytes, await whole.Content.ReadAsByteArrayAsync());
            Assert.Equal($"\"{sha}\"", whole.Headers.ETag?.Tag);
            Assert.Contains("bytes", whole.Headers.AcceptRanges);
        }

        await AssertRangeAsync(viewer, sha, "bytes=10-19", bytes, 10, 19);
        await AssertRangeAsync(device.Http, sha, $"bytes=100-", bytes, 100, n - 1);
        await AssertRangeAsync(device.Http, sha, "bytes=-5", bytes, n - 5, n - 1);
        await AssertRangeAsync(device.Http, sha, $"bytes={n - 3}-{n + 1000}", bytes, n - 3, n - 1);

        using (var request = new HttpRequestMessage(HttpMethod.Get, BundleRoutes.Artifact(sha)))
        {
            request.Headers.Range = new RangeHeaderValue(n, null);
            using var unsatisfiable = await device.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);
            Assert.Equal($"bytes */{n}", unsatisfiable.Content.Headers.ContentRange?.ToString());
        }

        using (var unknown = await device.Http.GetAsync(BundleRoutes.Artifact(new string('0', 64))))
        {
            await FleetTestServer.ErrorAsync(unknown, HttpStatusCode.NotFound, FleetErrorCodes.NotFound);
        }

        using (var bad = await device.Http.GetAsync(BundleRoutes.Artifact("not-a-sha")))
        {
            await FleetTestServer.ErrorAsync(bad, HttpStatusCode.BadRequest, FleetErrorCodes.InvalidRequest);
        }

        using (var revoke = await server.Admin.PostAsync(FleetRoutes.DeviceRevoke("dev-1"), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        foreach (var client in new[] { server.Anonymous, server.Client("eak_garbageGarbageGarbageGarbageGarbageGarbage1"), server.Client("edc_garbageGarbageGarbageGarbageGarbageGarbage1"), device.Http })
        {
            using var refused = await client.GetAsync(BundleRoutes.Artifact(sha));
            await FleetTestServer.ErrorAsync(refused, HttpStatusCode.Unauthorized, FleetErrorCodes.Unauthorized);
        }
    }

    [Fact]
    public async Task Hostile_uploads_are_refused_with_a_reason_and_leave_nothing_in_artifacts()
    {
        await using var server = await StartAsync(StoreKind.Sqlite, "--Fleet:MaxBundleBytes=65536");
        var good = await MakeBundleAsync("qwen3", "1.0.0");
        using var stranger = BundleSigningKey.Generate();
        var unknownKey = await MakeBundleAsync("qwen3", "1.0.0", key: stranger);
        var badSignature = Tamper(good, "\"qwen3\"", "\"qwen4\"");
        var badPayload = Tamper(good, "weights-", "WEIGHTS-");
        var oversized = await MakeBundleAsync("qwen3", "2.0.0", payload: new string('x', 100_000));

        var cases = new (string What, byte[] Body, HttpStatusCode Status, string Expect)[]
        {
            ("not a bundle", RandomNumberGenerator.GetBytes(4096), HttpStatusCode.BadRequest, "refused (malformed)"),
            ("unknown key", unknownKey, HttpStatusCode.BadRequest, "(unknown_key)"),
            ("bad signature", badSignature, HttpStatusCode.BadRequest, "(bad_signature)"),
            ("payload changed", badPayload, HttpStatusCode.BadRequest, "(hash_mismatch)"),
            ("truncated", good[..(good.Length / 2)], HttpStatusCode.BadRequest, "(truncated)"),
            ("oversized", oversized, HttpStatusCode.RequestEntityTooLarge, "65536"),
        };
        foreach (var (what, body, status, expect) in cases)
        {
            using var response = await PostAsync(server.Admin, body);
            var code = status == HttpStatusCode.RequestEntityTooLarge ? FleetErrorCodes.TooLarge : FleetErrorCodes.InvalidRequest;
            var message = await FleetTestServer.ErrorAsync(response, status, code);
            Assert.True(message.Contains(expect, StringComparison.Ordinal), $"{what}: {message}");
            Assert.True(!Directory.Exists(ArtifactsDir) || !Directory.EnumerateFiles(ArtifactsDir, "*", SearchOption.AllDirectories).Any(), what);
        }

        using (var json = await server.Admin.PostAsync(BundleRoutes.Bundles, FleetTestServer.RawJson("{}")))
        {
            Assert.Contains("application/octet-stream", await FleetTestServer.ErrorAsync(json, HttpStatusCode.BadRequest, FleetErrorCodes.InvalidRequest), StringComparison.Ordinal);
        }

        using var list = await server.Admin.GetAsync(BundleRoutes.Bundles);
        Assert.Empty(await FleetTestServer.ReadAsync(list, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListBundleSummary));
    }

    [Fact]
    public async Task Without_trusted_keys_every_upload_is_refused_with_the_setting_to_fix()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres, $"--Fleet:ArtifactsDir={ArtifactsDir}");

        using var response = await PostAsync(server.Admin, await MakeBundleAsync("qwen3", "1.0.0"));

        Assert.Contains("Fleet:TrustedPublisherKeys", await FleetTestServer.ErrorAsync(response, HttpStatusCode.BadRequest, FleetErrorCodes.InvalidRequest), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _publisher.Dispose();
        _dir.Dispose();
    }

    private async Task<FleetTestServer> StartAsync(StoreKind kind, params string[] settings)
    {
        var trusted = Path.Combine(_dir.Path, "publisher.pub.pem");
        await File.WriteAllTextAsync(trusted, _publisher.ExportPublicKeyPem());
        return await FleetTestServer.StartAsync(kind, postgres, [$"--Fleet:TrustedPublisherKeys:0={trusted}", $"--Fleet:ArtifactsDir={ArtifactsDir}", .. settings]);
    }

    private async Task<byte[]> MakeBundleAsync(string name, string version, string payload = "weights-0123456789", BundleSigningKey? key = null, BundleKind kind = BundleKind.Model)
    {
        var source = Path.Combine(_dir.Path, "src-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(source);
        await File.WriteAllTextAsync(Path.Combine(source, kind == BundleKind.Config ? "agent.json" : "model.onnx"), payload);
        using var output = new MemoryStream();
        var options = new BundleCreateOptions { Kind = kind, Name = name, Version = version };
        await BundleWriter.CreateAsync(options, source, key ?? _publisher, output, new FakeTimeProvider(), CancellationToken.None);
        return output.ToArray();
    }

    private static byte[] Tamper(byte[] bundle, string find, string replace)
    {
        var text = System.Text.Encoding.Latin1.GetString(bundle);
        Assert.Contains(find, text, StringComparison.Ordinal);
        return System.Text.Encoding.Latin1.GetBytes(text.Replace(find, replace, StringComparison.Ordinal));
    }

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return client.PostAsync(BundleRoutes.Bundles, content);
    }

    private static async Task<BundleInfo> UploadAsync(HttpClient client, byte[] body, HttpStatusCode expected)
    {
        using var response = await PostAsync(client, body);
        return await FleetTestServer.ReadAsync(response, expected, FleetJsonContext.Default.BundleInfo);
    }

    private static async Task AssertRangeAsync(HttpClient client, string sha, string range, byte[] bytes, long from, long to)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, BundleRoutes.Artifact(sha));
        request.Headers.TryAddWithoutValidation("Range", range);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal($"bytes {from}-{to}/{bytes.Length}", response.Content.Headers.ContentRange?.ToString());
        Assert.Equal(bytes[(int)from..(int)(to + 1)], await response.Content.ReadAsByteArrayAsync());
    }
}
