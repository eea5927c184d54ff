namespace EdgeLlm.Contracts.Fleet;

/// <summary>
/// The fleet server's HTTP routes (all under <c>/api/v1</c>). Devices authenticate with
/// <c>Authorization: Bearer {device credential}</c>; operators with <c>Authorization: Bearer {admin API key}</c>.
/// Errors are <see cref="FleetError"/> bodies with the status codes named here.
/// </summary>
public static class FleetRoutes
{
    public const string Prefix = "/api/v1";

    // Device routes (device credential, except enroll which presents a token in the body).

    /// <summary>POST <see cref="EnrollRequest"/> → 201 <see cref="EnrollResponse"/>; 401 unknown, used up or expired token; 403 revoked device.</summary>
    public const string Enroll = Prefix + "/enroll";

    /// <summary>POST <see cref="TelemetryBatch"/> → 200 <see cref="TelemetryAck"/>; 400 malformed; 413 too large; 429 rate limited (Retry-After).</summary>
    public const string Telemetry = Prefix + "/device/telemetry";

    /// <summary>GET → 200 <see cref="DesiredState"/> with an ETag; 304 when If-None-Match matches.</summary>
    public const string Desired = Prefix + "/device/desired";

    /// <summary>PUT <see cref="ReportedState"/> → 204.</summary>
    public const string Reported = Prefix + "/device/reported";

    /// <summary>POST → 200 <see cref="CredentialResponse"/>: a new credential; the old one stops working at once.</summary>
    public const string RotateCredential = Prefix + "/device/credential";

    // Operator routes (admin API key; the role each needs is in parentheses).

    /// <summary>POST <see cref="CreateTokenRequest"/> → 201 <see cref="EnrollmentToken"/> (operator); GET → list (viewer).</summary>
    public const string Tokens = Prefix + "/tokens";

    /// <summary>GET → <see cref="DeviceSummary"/>[] (viewer).</summary>
    public const string Devices = Prefix + "/devices";

    /// <summary>GET <c>/devices/{id}</c> → <see cref="DeviceDetail"/> (viewer).</summary>
    public static string Device(string id) => $"{Devices}/{Uri.EscapeDataString(id)}";

    /// <summary>PUT <c>/devices/{id}/desired</c> <see cref="DesiredStateUpdate"/> → 200 <see cref="DesiredState"/> (operator).</summary>
    public static string DeviceDesired(string id) => Device(id) + "/desired";

    /// <summary>POST <c>/devices/{id}/revoke</c> → 204 (operator): the credential stops working.</summary>
    public static string DeviceRevoke(string id) => Device(id) + "/revoke";

    /// <summary>GET <c>/devices/{id}/telemetry?limit=N&amp;after=SEQ</c> → <see cref="TelemetryItem"/>[] (viewer).</summary>
    public static string DeviceTelemetry(string id) => Device(id) + "/telemetry";

    /// <summary>POST <see cref="CreateApiKeyRequest"/> → 201 <see cref="ApiKeyInfo"/> with the key (admin); GET → list (admin).</summary>
    public const string Keys = Prefix + "/keys";

    /// <summary>GET → <see cref="AuditEntry"/>[] (admin).</summary>
    public const string Audit = Prefix + "/audit";

    /// <summary>The OpenAPI document.</summary>
    public const string OpenApi = "/openapi/v1.json";

    /// <summary>Liveness (no authentication).</summary>
    public const string Health = "/healthz";
}

/// <summary>Operator roles, each including the ones before it.</summary>
public static class FleetRoles
{
    /// <summary>Reads devices, tokens and telemetry.</summary>
    public const string Viewer = "viewer";

    /// <summary>Also creates tokens, sets desired state, revokes devices.</summary>
    public const string Operator = "operator";

    /// <summary>Also manages API keys and reads the audit log.</summary>
    public const string Admin = "admin";

    public static int Rank(string role) => role switch
    {
        Viewer => 1,
        Operator => 2,
        Admin => 3,
        _ => 0,
    };
}

/// <summary>Error codes of <see cref="FleetError"/>.</summary>
public static class FleetErrorCodes
{
    public const string InvalidRequest = "invalid_request";
    public const string TooLarge = "too_large";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string NotFound = "not_found";
    public const string RateLimited = "rate_limited";
    public const string Conflict = "conflict";
    public const string Internal = "internal";
}
