using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Tests.Support;

namespace EdgeLlm.Fleet.Tests.Api;

[Collection(PostgresClusterDefinition.Name)]
public sealed class HostileInputTests(PostgresFixture postgres)
{
    private const string Sql = "Robert'); DROP TABLE devices; -- \" OR 1=1; SELECT * FROM api_keys WHERE ''='";

    /// <summary>A hostile body and the only acceptable answer (400 or 413; never 500, never success).</summary>
    /// <param name="MayReset">
    /// The server may refuse by closing the connection instead of answering: a streamed body that is still being sent
    /// when the server stops reading at its limit can meet a reset that discards the 413 (HTTP allows the close).
    /// </param>
    private sealed record Hostile(string Name, Func<HttpContent> Content, HttpStatusCode Expected, bool ExpectContinue = false, bool MayReset = false);

    private static IEnumerable<Hostile> HostileBodies(string validJson, int limit)
    {
        yield return new("empty", () => FleetTestServer.RawJson(""), HttpStatusCode.BadRequest);
        yield return new("null", () => FleetTestServer.RawJson("null"), HttpStatusCode.BadRequest);
        yield return new("array", () => FleetTestServer.RawJson("[]"), HttpStatusCode.BadRequest);
        yield return new("string", () => FleetTestServer.RawJson("\"hello\""), HttpStatusCode.BadRequest);
        yield return new("number", () => FleetTestServer.RawJson("1e999999"), HttpStatusCode.BadRequest);
        yield return new("truncated", () => FleetTestServer.RawJson(validJson[..(validJson.Length / 2)]), HttpStatusCode.BadRequest);
        yield return new("trailing garbage", () => FleetTestServer.RawJson(validJson + "}"), HttpStatusCode.BadRequest);
        yield return new("comment", () => FleetTestServer.RawJson("/* x */" + validJson), HttpStatusCode.BadRequest);
        yield return new("NaN", () => FleetTestServer.RawJson("{\"x\": NaN}"), HttpStatusCode.BadRequest);
        yield return new("deeply nested", () => FleetTestServer.RawJson("{\"x\":" + new string('[', 20_000) + new string(']', 20_000) + "}"), HttpStatusCode.BadRequest);
        yield return new("deeply nested objects", () => FleetTestServer.RawJson(string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5000)), HttpStatusCode.BadRequest);
        var firstString = validJson.IndexOf("\":\"", StringComparison.Ordinal) + 3;
        yield return new("invalid UTF-8", () => Bytes([.. Encoding.UTF8.GetBytes(validJson[..firstString]), 0xC3, 0x28, 0xFF, .. Encoding.UTF8.GetBytes(validJson[firstString..])], "application/json"), HttpStatusCode.BadRequest);
        yield return new("text/plain", () => new StringContent(validJson, Encoding.UTF8, "text/plain"), HttpStatusCode.BadRequest);
        yield return new("no content type", () => Bytes(Encoding.UTF8.GetBytes(validJson), null), HttpStatusCode.BadRequest);
        yield return new("form", () => new FormUrlEncodedContent([new("a", "b")]), HttpStatusCode.BadRequest);
        yield return new("utf-16 charset", () => new StringContent(validJson, Encoding.Unicode, "application/json"), HttpStatusCode.BadRequest);
        // Large uploads announce themselves (Expect: 100-continue), so the 413 comes before the body is sent.
        yield return new("2 MiB", () => FleetTestServer.RawJson(Padded(validJson, 2 * 1024 * 1024)), HttpStatusCode.RequestEntityTooLarge, ExpectContinue: true);
        yield return new("just over the limit", () => FleetTestServer.RawJson(Padded(validJson, limit - validJson.Length - 8)), HttpStatusCode.RequestEntityTooLarge);
        // Without Content-Length only the streaming limit can stop it (small enough to fit in the socket buffers).
        yield return new("chunked over the limit", () => Chunked(Encoding.UTF8.GetBytes(Padded(validJson, limit + (32 * 1024)))), HttpStatusCode.RequestEntityTooLarge, MayReset: true);
        foreach (var (name, rewritten) in new[] { ("wrong types", WrongTypes(validJson)), ("huge numbers", HugeNumbers(validJson)), ("nulls everywhere", Nulls(validJson)) })
        {
            // A rewrite that changed nothing the schema checks is no hostile body for this route.
            if (rewritten != Rewrite(validJson, _ => null))
            {
                yield return new(name, () => FleetTestServer.RawJson(rewritten), HttpStatusCode.BadRequest);
            }
        }
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Every_body_route_answers_hostile_bodies_with_400_or_413_never_500(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres, "--Fleet:TelemetryBurst=1000");
        var device = await server.EnrollAsync("hostile-1");
        var enrollToken = (await server.CreateTokenAsync(uses: 100)).Token!;
        const int bodyLimit = 64 * 1024;
        const int telemetry = 1024 * 1024;
        var routes = new (HttpMethod Method, string Path, HttpClient Client, string Valid, int Limit)[]
        {
            (HttpMethod.Post, FleetRoutes.Enroll, server.Anonymous, $$$"""{"token":"{{{enrollToken}}}","device_id":"hostile-2","hardware":{"arch":"arm64","cpu_count":4,"memory_bytes":1024,"accelerators":["npu"]}}""", bodyLimit),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, """{"items":[{"seq":1,"ts":"2025-01-01T00:00:00Z","kind":"metric","name":"t","value":1.5,"data":{"k":[1,2]}}]}""", telemetry),
            (HttpMethod.Put, FleetRoutes.Reported, device.Http, """{"applied_revision":1,"model":{"name":"m","version":"1"},"adapters":[{"name":"a","version":"1"}],"health":"ok","state":"ready","errors":["e"]}""", bodyLimit),
            (HttpMethod.Post, FleetRoutes.Tokens, server.Admin, """{"uses":2,"expires_in_seconds":600,"tags":["a"]}""", bodyLimit),
            (HttpMethod.Post, FleetRoutes.Keys, server.Admin, """{"name":"n","role":"viewer"}""", bodyLimit),
            (HttpMethod.Put, FleetRoutes.DeviceDesired(device.DeviceId), server.Admin, """{"model":{"name":"m","version":"1"},"adapters":[],"config":{"a":1},"query_log_upload":false}""", bodyLimit),
        };

        var failures = new List<string>();
        foreach (var (method, path, client, valid, limit) in routes)
        {
            foreach (var hostile in HostileBodies(valid, limit))
            {
                var request = new HttpRequestMessage(method, path) { Content = hostile.Content() };
                request.Headers.ExpectContinue = hostile.ExpectContinue;
                HttpResponseMessage response;
                try
                {
                    response = await client.SendAsync(request);
                }
                catch (HttpRequestException ex) when (hostile.MayReset && ex.InnerException is IOException)
                {
                    continue;
                }
                catch (HttpRequestException ex)
                {
                    failures.Add($"{method} {path} [{hostile.Name}]: no response ({ex.InnerException?.Message ?? ex.Message})");
                    continue;
                }

                using var _ = response;
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != hostile.Expected || !IsFleetError(body, hostile.Expected == HttpStatusCode.BadRequest ? FleetErrorCodes.InvalidRequest : FleetErrorCodes.TooLarge))
                {
                    failures.Add($"{method} {path} [{hostile.Name}]: {(int)response.StatusCode} {body[..Math.Min(body.Length, 200)]}");
                }
            }

            // The valid body still works afterwards: the hostile ones broke nothing.
            using var ok = await client.SendAsync(new HttpRequestMessage(method, path) { Content = FleetTestServer.RawJson(valid) });
            if (!ok.IsSuccessStatusCode)
            {
                failures.Add($"{method} {path} [valid]: {(int)ok.StatusCode} {await ok.Content.ReadAsStringAsync()}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task A_declared_body_just_over_the_largest_limit_gets_its_413_and_the_connection_lives_on()
    {
        // The telemetry limit is the server-wide one, so the server used to close the connection instead of reading
        // the refused body: a client still sending it met a broken pipe and never saw the 413.
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var device = await server.EnrollAsync("drain-1");
        const int telemetryLimit = 1024 * 1024;
        const string valid = """{"items":[{"seq":1,"ts":"2025-01-01T00:00:00Z","kind":"metric","name":"t","value":1.5}]}""";
        var body = Encoding.UTF8.GetBytes(Padded(valid, telemetryLimit));

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port);
        var stream = tcp.GetStream();
        var reader = new RawHttpReader(stream);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(RequestHead(server.BaseUri, device.Credential, body.Length)));

        // The answer comes before a byte of the body is sent, and the body is still read afterwards.
        var (status, refusal) = await reader.ReadResponseAsync();
        Assert.Equal(413, status);
        Assert.True(IsFleetError(refusal, FleetErrorCodes.TooLarge), refusal);
        await stream.WriteAsync(body);

        var next = Encoding.UTF8.GetBytes(valid);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(RequestHead(server.BaseUri, device.Credential, next.Length)));
        await stream.WriteAsync(next);
        var (nextStatus, nextBody) = await reader.ReadResponseAsync();
        Assert.True(nextStatus is >= 200 and < 300, $"{nextStatus} {nextBody}");
    }

    [Fact]
    public async Task A_declared_body_far_over_the_limit_is_refused_without_being_read()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var device = await server.EnrollAsync("drain-2");
        const long declared = (1024 * 1024) + EdgeLlm.Fleet.Hosting.FleetApp.DrainAllowanceBytes + 1;

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port);
        var stream = tcp.GetStream();
        var reader = new RawHttpReader(stream);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(RequestHead(server.BaseUri, device.Credential, declared)));
        var (status, refusal) = await reader.ReadResponseAsync();
        Assert.Equal(413, status);
        Assert.True(IsFleetError(refusal, FleetErrorCodes.TooLarge), refusal);

        // The server does not wait for a body it will not read: it closes the connection.
        Assert.True(await reader.AtEndAsync(), "the connection stayed open for a body far over the limit");
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Semantically_wrong_fields_are_400_and_oversized_batches_413(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var device = await server.EnrollAsync("fields-1");
        var cases = new (HttpMethod Method, string Path, HttpClient Client, string Body, HttpStatusCode Expected)[]
        {
            (HttpMethod.Post, FleetRoutes.Enroll, server.Anonymous, """{"token":"eet_x","device_id":""}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Enroll, server.Anonymous, """{"token":"eet_x","device_id":"a/b"}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Enroll, server.Anonymous, $$"""{"token":"eet_x","device_id":"{{new string('a', 65)}}"}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Enroll, server.Anonymous, """{"token":"eet_x","device_id":"ok","hardware":{"accelerators":[null]}}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, """{"items":[null]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, """{"items":[{"seq":-1,"ts":"2025-01-01T00:00:00Z","kind":"metric","name":"t"}]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, """{"items":[{"seq":1,"ts":"not a time","kind":"metric","name":"t"}]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, """{"items":[{"seq":1,"ts":"2025-01-01T00:00:00Z","kind":"gossip","name":"t"}]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, """{"items":[{"seq":1,"ts":"2025-01-01T00:00:00Z","kind":"metric","name":"t","value":1e400}]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, """{"items":[{"seq":1,"ts":"2025-01-01T00:00:00Z","kind":"metric","name":"t","value":"1"}]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Telemetry, device.Http, JsonSerializer.Serialize(TelemetryTests.Batch(1, 1001), FleetJsonContext.Default.TelemetryBatch), HttpStatusCode.RequestEntityTooLarge),
            (HttpMethod.Put, FleetRoutes.Reported, device.Http, """{"health":"splendid"}""", HttpStatusCode.BadRequest),
            (HttpMethod.Put, FleetRoutes.Reported, device.Http, """{"health":"ok","errors":[null]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Tokens, server.Admin, """{"uses":0}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Tokens, server.Admin, """{"expires_in_seconds":-5}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Tokens, server.Admin, """{"uses":99999999999}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Tokens, server.Admin, """{"tags":[""]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Keys, server.Admin, """{"name":"x","role":"root"}""", HttpStatusCode.BadRequest),
            (HttpMethod.Post, FleetRoutes.Keys, server.Admin, """{"name":"","role":"viewer"}""", HttpStatusCode.BadRequest),
            (HttpMethod.Put, FleetRoutes.DeviceDesired(device.DeviceId), server.Admin, """{"config":[1,2]}""", HttpStatusCode.BadRequest),
            (HttpMethod.Put, FleetRoutes.DeviceDesired(device.DeviceId), server.Admin, """{"model":{"name":"","version":"1"}}""", HttpStatusCode.BadRequest),
        };
        var failures = new List<string>();
        foreach (var (method, path, client, body, expected) in cases)
        {
            using var response = await client.SendAsync(new HttpRequestMessage(method, path) { Content = FleetTestServer.RawJson(body) });
            if (response.StatusCode != expected)
            {
                failures.Add($"{method} {path} {body[..Math.Min(body.Length, 120)]}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }

        foreach (var query in new[] { "?limit=0", "?limit=abc", "?limit=5000", "?after=x", "?limit=1&limit=2", "?limit=99999999999999999999" })
        {
            using var response = await server.Admin.GetAsync(FleetRoutes.DeviceTelemetry(device.DeviceId) + query);
            if (response.StatusCode != HttpStatusCode.BadRequest)
            {
                failures.Add($"telemetry {query}: {(int)response.StatusCode}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task SQL_looking_input_is_stored_and_returned_verbatim(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var device = await server.EnrollAsync("sql-1", Sql[..64], "<b>tag</b>", "ünïcødé ✓");
        var key = await server.CreateKeyAsync(FleetRoles.Viewer, Sql[..64]);
        var data = JsonDocument.Parse(JsonSerializer.Serialize(new Dictionary<string, string> { ["message"] = Sql })).RootElement;
        var batch = new TelemetryBatch
        {
            Items = [new TelemetryItem { Seq = 1, Ts = DateTimeOffset.UnixEpoch, Kind = TelemetryKinds.Event, Name = Sql[..40] + "_error", Data = data }],
        };
        await TelemetryTests.PostAsync(device.Http, batch);
        var reported = new ReportedState { Health = "error", State = Sql[..60], Errors = [Sql, "line\nbreak\ttab"] };
        using (var put = await device.Http.PutAsync(FleetRoutes.Reported, FleetTestServer.Json(reported, FleetJsonContext.Default.ReportedState)))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        var detail = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Device(device.DeviceId)), HttpStatusCode.OK, FleetJsonContext.Default.DeviceDetail);
        Assert.Equal([Sql[..64], "<b>tag</b>", "ünïcødé ✓"], detail.Device.Tags);
        Assert.Equal(Sql[..60], detail.Reported!.State);
        Assert.Equal([Sql, "line\nbreak\ttab"], detail.Reported.Errors);

        var item = Assert.Single(await TelemetryTests.ReadAllAsync(server.Admin, device.DeviceId));
        Assert.Equal(Sql[..40] + "_error", item.Name);
        Assert.Equal(Sql, item.Data!.Value.GetProperty("message").GetString());

        var keys = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Keys), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListApiKeyInfo);
        Assert.Contains(keys, k => k.Name == Sql[..64] && k.Id == key.Id);
        var devices = await FleetTestServer.ReadAsync(await server.Admin.GetAsync(FleetRoutes.Devices), HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListDeviceSummary);
        Assert.Equal([Sql[..64], "<b>tag</b>", "ünïcødé ✓"], Assert.Single(devices).Tags);
    }

    private static string RequestHead(Uri server, string credential, long contentLength) =>
        $"POST {FleetRoutes.Telemetry} HTTP/1.1\r\nHost: {server.Authority}\r\nAuthorization: Bearer {credential}\r\n"
        + $"Content-Type: application/json\r\nContent-Length: {contentLength}\r\n\r\n";

    /// <summary>The valid body with an extra string property of <paramref name="padding"/> characters.</summary>
    private static string Padded(string validJson, int padding) => validJson[..^1] + ",\"pad\":\"" + new string('x', padding) + "\"}";

    private static bool IsFleetError(string body, string code)
    {
        try
        {
            return JsonSerializer.Deserialize(body, FleetJsonContext.Default.FleetError)?.Error.Code == code;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static ByteArrayContent Bytes(byte[] bytes, string? contentType)
    {
        var content = new ByteArrayContent(bytes);
        if (contentType is not null)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        return content;
    }

    /// <summary>A body without Content-Length (chunked), so only the streaming limit can stop it.</summary>
    private static StreamContent Chunked(byte[] bytes)
    {
        var content = new StreamContent(new NonSeekableStream(bytes));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>Every string value becomes a number and every number a string.</summary>
    private static string WrongTypes(string json) => Rewrite(json, v => v.ValueKind switch
    {
        JsonValueKind.String => "12345",
        JsonValueKind.Number => "\"12\"",
        _ => null,
    });

    private static string HugeNumbers(string json) => Rewrite(json, v => v.ValueKind == JsonValueKind.Number ? "123456789012345678901234567890123456789e999" : null);

    private static string Nulls(string json) => Rewrite(json, v => v.ValueKind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.Array ? "null" : null);

    /// <summary>
    /// Rewrites the property values of <paramref name="json"/>, nested ones too, except inside the free-form <c>config</c>
    /// and <c>data</c> objects; the replacer returns raw JSON, or null to keep the value.
    /// </summary>
    private static string Rewrite(string json, Func<JsonElement, string?> replace)
    {
        using var doc = JsonDocument.Parse(json);
        var sb = new StringBuilder();
        Write(doc.RootElement);
        return sb.ToString();

        void Write(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    sb.Append('{');
                    var first = true;
                    foreach (var p in e.EnumerateObject())
                    {
                        sb.Append(first ? "" : ",").Append(JsonSerializer.Serialize(p.Name)).Append(':');
                        first = false;
                        if (p.Name is "config" or "data")
                        {
                            sb.Append(p.Value.GetRawText());
                        }
                        else if (replace(p.Value) is { } raw && p.Value.ValueKind != JsonValueKind.Object)
                        {
                            sb.Append(raw);
                        }
                        else
                        {
                            Write(p.Value);
                        }
                    }

                    sb.Append('}');
                    break;
                case JsonValueKind.Array:
                    sb.Append('[');
                    var i = 0;
                    foreach (var item in e.EnumerateArray())
                    {
                        sb.Append(i++ == 0 ? "" : ",");
                        Write(item);
                    }

                    sb.Append(']');
                    break;
                default:
                    sb.Append(e.GetRawText());
                    break;
            }
        }
    }

    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
