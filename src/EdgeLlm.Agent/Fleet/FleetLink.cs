using System.Net;
using System.Net.Http.Headers;
using EdgeLlm.Agent.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// The device's link to its fleet server: the credential from <c>fleet.json</c> (re-read whenever the file changes, so
/// enrolling while the agent runs takes effect without a restart) and one <see cref="HttpClient"/> with time limits.
/// A refused credential (401/403) stops all fleet traffic until fleet.json changes.
/// </summary>
internal sealed class FleetLink : IDisposable
{
    /// <summary>State key: <c>ok</c>, <c>revoked</c>, or <c>unreachable</c> as last seen by the uploader.</summary>
    public const string StateKey = "fleet_link_state";

    private readonly Lock _gate = new();
    private readonly ILogger<FleetLink> _logger;
    private (DateTime Modified, long Length)? _seen;
    private bool _reportedMissing;
    private FleetCredentials? _current;
    private volatile bool _refused;

    public FleetLink(IOptions<AgentOptions> agent, IOptions<FleetOptions> fleet, ILogger<FleetLink> logger)
        : this(FleetCredentials.PathIn(agent.Value.DataDir), TimeSpan.FromSeconds(fleet.Value.HttpTimeoutSeconds), logger)
    {
    }

    internal FleetLink(string path, TimeSpan timeout, ILogger<FleetLink> logger)
    {
        FilePath = path;
        _logger = logger;
#pragma warning disable CA2000 // The HttpClient owns the handler (disposeHandler: true) and is disposed with this link.
        var handler = new SocketsHttpHandler();
#pragma warning restore CA2000
        Http = new HttpClient(handler, disposeHandler: true);
        handler.ConnectTimeout = TimeSpan.FromSeconds(Math.Min(10, timeout.TotalSeconds));
        handler.PooledConnectionLifetime = TimeSpan.FromMinutes(5);
        handler.AutomaticDecompression = DecompressionMethods.All;
        Http.Timeout = timeout;
        Http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("edgellm-agent", Mqtt.StatusBoard.Version));
    }

    public string FilePath { get; }

    public HttpClient Http { get; }

    /// <summary>True after the server refused the credential, until fleet.json changes.</summary>
    public bool Refused => _refused;

    /// <summary>The credential, re-read when fleet.json appeared or changed; null when the device is not enrolled (or the file is broken).</summary>
    public FleetCredentials? Refresh()
    {
        lock (_gate)
        {
            var info = new FileInfo(FilePath);
            if (!info.Exists)
            {
                if (!_reportedMissing)
                {
                    FleetLog.NotEnrolled(_logger, FilePath);
                    _reportedMissing = true;
                }

                (_seen, _current) = (null, null);
                return null;
            }

            var stamp = (info.LastWriteTimeUtc, info.Length);
            if (_seen == stamp)
            {
                return _current;
            }

            _seen = stamp;
            _refused = false;
            try
            {
                _current = FleetCredentials.Read(FilePath);
                if (_current is not null)
                {
                    FleetLog.Enrolled(_logger, _current.DeviceId, _current.Server);
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                FleetLog.BadCredentialFile(_logger, ex.Message);
                _current = null;
            }

            return _current;
        }
    }

    /// <summary>The server said 401/403: stop until the credential changes.</summary>
    public void MarkRefused(FleetCredentials credentials, HttpStatusCode status)
    {
        if (!_refused)
        {
            _refused = true;
            FleetLog.CredentialRefused(_logger, credentials.Server, credentials.DeviceId, (int)status);
        }
    }

    public static HttpRequestMessage Request(HttpMethod method, FleetCredentials credentials, string route)
    {
        var request = new HttpRequestMessage(method, credentials.Route(route));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credentials.Credential);
        return request;
    }

    public void Dispose() => Http.Dispose();
}
