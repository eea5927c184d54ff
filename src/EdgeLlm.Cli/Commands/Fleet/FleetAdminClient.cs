using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>A fleet API call that failed, worded for the operator (one line); <see cref="Code"/> is the JSON error code.</summary>
internal sealed class FleetApiException(string code, string message, HttpStatusCode? status = null) : Exception(message)
{
    public string Code { get; } = code;

    public HttpStatusCode? Status { get; } = status;
}

/// <summary>
/// The operator side of the fleet API (<see cref="FleetRoutes"/>): one HttpClient, an admin API key as the bearer, wire
/// types through <see cref="FleetJsonContext"/>. Every failure becomes a <see cref="FleetApiException"/> whose message
/// says what to do. Commands added later (bundles, rollouts) call <see cref="SendAsync{T}"/> with their own routes.
/// </summary>
internal sealed class FleetAdminClient : IDisposable
{
    private readonly HttpClient _http;

    public FleetAdminClient(Uri server, string adminKey, HttpMessageHandler? handler = null)
    {
        Server = server;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = server;
        _http.Timeout = TimeSpan.FromSeconds(60);
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
    }

    public Uri Server { get; }

    public Task<EnrollmentToken> CreateTokenAsync(CreateTokenRequest request, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, FleetRoutes.Tokens, JsonSerializer.SerializeToUtf8Bytes(request, FleetJsonContext.Default.CreateTokenRequest),
            FleetJsonContext.Default.EnrollmentToken, "create enrollment tokens", cancellationToken);

    public Task<IReadOnlyList<EnrollmentToken>> ListTokensAsync(CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, FleetRoutes.Tokens, null, FleetJsonContext.Default.IReadOnlyListEnrollmentToken, "list enrollment tokens", cancellationToken);

    public Task DeleteTokenAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, $"{FleetRoutes.Tokens}/{Uri.EscapeDataString(id)}", null, "delete enrollment tokens", cancellationToken);

    public Task<IReadOnlyList<DeviceSummary>> ListDevicesAsync(CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, FleetRoutes.Devices, null, FleetJsonContext.Default.IReadOnlyListDeviceSummary, "list devices", cancellationToken);

    public Task<DeviceDetail> GetDeviceAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, FleetRoutes.Device(id), null, FleetJsonContext.Default.DeviceDetail, "read devices", cancellationToken);

    public Task<DesiredState> SetDesiredAsync(string id, DesiredStateUpdate update, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Put, FleetRoutes.DeviceDesired(id), JsonSerializer.SerializeToUtf8Bytes(update, FleetJsonContext.Default.DesiredStateUpdate),
            FleetJsonContext.Default.DesiredState, "set desired state", cancellationToken);

    public Task RevokeDeviceAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, FleetRoutes.DeviceRevoke(id), null, "revoke devices", cancellationToken);

    public Task<ApiKeyInfo> CreateKeyAsync(CreateApiKeyRequest request, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, FleetRoutes.Keys, JsonSerializer.SerializeToUtf8Bytes(request, FleetJsonContext.Default.CreateApiKeyRequest),
            FleetJsonContext.Default.ApiKeyInfo, "manage API keys", cancellationToken);

    public Task<IReadOnlyList<ApiKeyInfo>> ListKeysAsync(CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, FleetRoutes.Keys, null, FleetJsonContext.Default.IReadOnlyListApiKeyInfo, "manage API keys", cancellationToken);

    public Task DeleteKeyAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, $"{FleetRoutes.Keys}/{Uri.EscapeDataString(id)}", null, "manage API keys", cancellationToken);

    public Task<IReadOnlyList<AuditEntry>> ListAuditAsync(int limit, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"{FleetRoutes.Audit}?limit={limit.ToString(CultureInfo.InvariantCulture)}", null,
            FleetJsonContext.Default.IReadOnlyListAuditEntry, "read the audit log", cancellationToken);

    /// <summary>Sends one request (<paramref name="json"/>: the body, UTF-8 JSON) and reads a <typeparamref name="T"/>; <paramref name="action"/> completes "your key's role may not …".</summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string path, byte[]? json, JsonTypeInfo<T> type, string action, CancellationToken cancellationToken)
    {
        using var response = await SendCoreAsync(method, path, json, action, cancellationToken).ConfigureAwait(false);
        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false)
                ?? throw new FleetApiException("invalid_response", $"the fleet server at {Server} answered {method} {path} with an empty body");
        }
        catch (JsonException ex)
        {
            throw new FleetApiException("invalid_response", $"the fleet server at {Server} answered {method} {path} with a body this CLI does not understand: {ex.Message}");
        }
    }

    /// <summary>Sends one request that answers with no body (204).</summary>
    public async Task SendAsync(HttpMethod method, string path, byte[]? json, string action, CancellationToken cancellationToken)
    {
        using var response = await SendCoreAsync(method, path, json, action, cancellationToken).ConfigureAwait(false);
    }

    public static HttpContent Json<T>(T value, JsonTypeInfo<T> type) => Content(JsonSerializer.SerializeToUtf8Bytes(value, type));

    private static ByteArrayContent Content(byte[] json) => new(json) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };

    public void Dispose() => _http.Dispose();

    private async Task<HttpResponseMessage> SendCoreAsync(HttpMethod method, string path, byte[]? json, string action, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path.TrimStart('/'), UriKind.Relative)) { Content = json is null ? null : Content(json) };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            var why = ex.InnerException is SocketException socket ? socket.Message : ex.Message;
            throw new FleetApiException("unreachable", $"cannot reach the fleet server at {Server}: {why}; check --server or EDGELLM_FLEET_SERVER");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new FleetApiException("timeout", $"the fleet server at {Server} did not answer {method} {path} within {_http.Timeout.TotalSeconds:F0} s");
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var detail = await ErrorMessageAsync(response, cancellationToken).ConfigureAwait(false);
            throw Failure(response.StatusCode, detail, action);
        }
    }

    /// <summary>The operator's one line for an error status; <paramref name="detail"/> is the server's own message, when it sent one.</summary>
    internal FleetApiException Failure(HttpStatusCode status, string? detail, string action) => status switch
    {
        HttpStatusCode.Unauthorized => new FleetApiException(FleetErrorCodes.Unauthorized,
            $"admin key refused by the fleet server at {Server}: check --admin-key or EDGELLM_FLEET_ADMIN_KEY", status),
        HttpStatusCode.Forbidden => new FleetApiException(FleetErrorCodes.Forbidden,
            $"your key's role may not {action}: ask an admin for a key with a higher role", status),
        HttpStatusCode.NotFound => new FleetApiException(FleetErrorCodes.NotFound, detail ?? $"not found on the fleet server at {Server}", status),
        HttpStatusCode.BadRequest => new FleetApiException(FleetErrorCodes.InvalidRequest, $"the fleet server refused the request: {detail ?? "invalid request"}", status),
        HttpStatusCode.RequestEntityTooLarge => new FleetApiException(FleetErrorCodes.TooLarge, $"the fleet server refused the request as too large: {detail ?? "too large"}", status),
        _ => new FleetApiException(FleetErrorCodes.Internal,
            $"the fleet server at {Server} answered {(int)status} {status}{(detail is null ? "" : ": " + detail)}", status),
    };

    private static async Task<string?> ErrorMessageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.FleetError, cancellationToken).ConfigureAwait(false);
            return string.IsNullOrWhiteSpace(error?.Error.Message) ? null : error.Error.Message;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            // Not a FleetError body (a proxy's page, an empty 404): the status alone tells the story.
            return null;
        }
    }
}
