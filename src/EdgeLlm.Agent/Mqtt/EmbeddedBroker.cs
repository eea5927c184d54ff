using System.Net;
using System.Security.Cryptography;
using EdgeLlm.Agent.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeLlm.Agent.Mqtt;

/// <summary>
/// The MQTT broker inside the agent (<c>Broker:Mode = embedded</c>): MQTTnet's server on loopback by default. With
/// <c>Broker:Users</c> every client logs in and may only use its topics; the agent itself connects as an internal user
/// whose password is made at start and never leaves the process.
/// </summary>
internal sealed class EmbeddedBroker(IOptions<BrokerOptions> options, ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
{
    public const string AgentUser = "edgellm-agent";

    /// <summary>
    /// User property the embedded broker stamps on every message with the sending client's id (replacing any the client
    /// set), so the agent can cancel a request when the client that asked disconnects.
    /// </summary>
    public const string SenderProperty = "edgellm-sender";

    private MqttServer? _server;

    // At most 2 s of draining at stop.
    private const int DrainPolls = 40;
    private const int DrainPollMs = 50;

    /// <summary>The agent's own password on this broker.</summary>
    public string AgentPassword { get; } = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!o.Embedded)
        {
            return;
        }

        var serverOptions = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Parse(o.BindAddress))
            .WithDefaultEndpointPort(o.EffectivePort)
            .WithDefaultEndpointReuseAddress()
            .Build();
        _server = new MqttServerFactory().CreateMqttServer(serverOptions);
        _server.ValidatingConnectionAsync += ValidateConnection;
        _server.InterceptingPublishAsync += AuthorizePublish;
        _server.ClientDisconnectedAsync += e =>
        {
            ClientDisconnected?.Invoke(e.ClientId);
            return Task.CompletedTask;
        };
        _server.InterceptingSubscriptionAsync += AuthorizeSubscription;
        try
        {
            await _server.StartAsync().ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException($"Broker:Port: the embedded broker cannot listen on {o.BindAddress}:{o.EffectivePort} ({ex.Message}); choose another port with --broker-port", ex);
        }

        Log.EmbeddedBrokerStarted(logger, o.BindAddress, o.EffectivePort, o.Users.Count);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await DrainAsync(_server, cancellationToken).ConfigureAwait(false);
            await _server.StopAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Gives the messages already accepted (above all the agent's own <c>offline</c> status, published just before) a
    /// bounded moment to reach their subscribers: stopping the server at once would drop them with the connections.
    /// An empty queue only means the last message was taken by its sender, so one more poll lets the write finish.
    /// </summary>
    private static async Task DrainAsync(MqttServer server, CancellationToken cancellationToken)
    {
        for (var i = 0; i < DrainPolls; i++)
        {
            var sessions = await server.GetSessionsAsync().ConfigureAwait(false);
            if (sessions.All(s => s.PendingApplicationMessagesCount == 0))
            {
                await Task.Delay(DrainPollMs, cancellationToken).ConfigureAwait(false);
                return;
            }

            await Task.Delay(DrainPollMs, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Raised with the client id when a client of the embedded broker disconnects (cleanly or not).</summary>
    public event Action<string>? ClientDisconnected;

    public void Dispose() => _server?.Dispose();

    private BrokerUser? UserOf(string? name) => options.Value.Users.FirstOrDefault(u => u.Username == name);

    private static bool IsAgent(string? user) => user == AgentUser;

    // Constant time, so the answer's timing does not tell how much of a guessed password was right.
    private static bool SamePassword(string? given, string expected) =>
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(given ?? ""), System.Text.Encoding.UTF8.GetBytes(expected));

    private Task ValidateConnection(ValidatingConnectionEventArgs e)
    {
        var users = options.Value.Users;
        if (IsAgent(e.UserName))
        {
            e.ReasonCode = SamePassword(e.Password, AgentPassword) ? MqttConnectReasonCode.Success : MqttConnectReasonCode.BadUserNameOrPassword;
        }
        else if (users.Count > 0)
        {
            var user = UserOf(e.UserName);
            e.ReasonCode = user is not null && SamePassword(e.Password, user.Password) ? MqttConnectReasonCode.Success : MqttConnectReasonCode.BadUserNameOrPassword;
        }

        if (e.ReasonCode != MqttConnectReasonCode.Success)
        {
            Log.BrokerLoginRefused(logger, e.ClientId, e.UserName ?? "(anonymous)");
        }

        return Task.CompletedTask;
    }

    private Task AuthorizePublish(InterceptingPublishEventArgs e)
    {
        if (!IsAgent(e.UserName) && e.ClientId is not null)
        {
            var properties = e.ApplicationMessage.UserProperties ??= [];
            properties.RemoveAll(p => p.Name == SenderProperty);
            properties.Add(new MQTTnet.Packets.MqttUserProperty(SenderProperty, System.Text.Encoding.UTF8.GetBytes(e.ClientId).AsMemory()));
        }

        if (options.Value.Users.Count == 0 || IsAgent(e.UserName) || e.UserName is null && e.ClientId is null)
        {
            return Task.CompletedTask;
        }

        var user = UserOf(e.UserName);
        if (user is null || !user.Publish.Any(f => TopicFilter.Matches(f, e.ApplicationMessage.Topic)))
        {
            e.ProcessPublish = false;
            Log.BrokerPublishRefused(logger, e.UserName ?? "(anonymous)", e.ApplicationMessage.Topic);
        }

        return Task.CompletedTask;
    }

    private Task AuthorizeSubscription(InterceptingSubscriptionEventArgs e)
    {
        if (options.Value.Users.Count == 0 || IsAgent(e.UserName))
        {
            return Task.CompletedTask;
        }

        var user = UserOf(e.UserName);
        if (user is null || !user.Subscribe.Any(f => TopicFilter.Covers(f, e.TopicFilter.Topic)))
        {
            e.ProcessSubscription = false;
            e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
            Log.BrokerSubscribeRefused(logger, e.UserName ?? "(anonymous)", e.TopicFilter.Topic);
        }

        return Task.CompletedTask;
    }
}
