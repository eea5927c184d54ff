using System.Security.Cryptography.X509Certificates;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Mqtt;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EdgeLlm.Agent.Mqtt;

/// <summary>
/// The agent's MQTT client (to the embedded broker or an external one). The first connection is made before the agent
/// reports ready; afterwards a supervised loop reconnects with exponential backoff and jitter whenever the
/// connection drops, restores the subscriptions and has the status re-published. The last will marks the device offline.
/// </summary>
internal sealed class MqttConnection : AgentService
{
    private readonly IOptions<BrokerOptions> _broker;
    private readonly AgentOptions _agent;
    private readonly EmbeddedBroker _embedded;
    private readonly StatusBoard _status;
    private readonly TimeProvider _time;
    private readonly ILogger<MqttConnection> _logger;
    private readonly IMqttClient _client;
    private readonly Signal _dropped = new();
    private Func<MqttApplicationMessageReceivedEventArgs, Task>? _handler;
    private readonly List<IMqttSubscriber> _subscribers = [];
    private volatile bool _stopping;

    public MqttConnection(IOptions<BrokerOptions> broker, IOptions<AgentOptions> agent, EmbeddedBroker embedded, StatusBoard status,
        TimeProvider time, ILogger<MqttConnection> logger)
    {
        _broker = broker;
        _agent = agent.Value;
        _embedded = embedded;
        _status = status;
        _time = time;
        _logger = logger;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.DisconnectedAsync += OnDisconnected;
        _client.ApplicationMessageReceivedAsync += OnReceivedAsync;
    }

    public bool IsConnected => _client.IsConnected;

    /// <summary>True while the supervising loop runs (the watchdog's view of this component).</summary>
    public bool Supervising { get; private set; }

    /// <summary>Times the connection was (re)established, for tests and the log.</summary>
    public int Connections { get; private set; }

    /// <summary>Sets the handler of incoming messages; it must only validate and enqueue (MQTTnet waits for it before acknowledging).</summary>
    public void OnMessage(Func<MqttApplicationMessageReceivedEventArgs, Task> handler) => _handler = handler;

    /// <summary>Adds topics beyond ask and cancel (before start): subscribed on every connection, their messages handed to <paramref name="subscriber"/>.</summary>
    public void AddSubscriber(IMqttSubscriber subscriber) => _subscribers.Add(subscriber);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await ConnectWithRetryAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Publishes at QoS 1; throws when the connection is down (the caller logs the lost message).</summary>
    public async Task PublishAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        var result = await _client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"the broker refused the message on {message.Topic}: {result.ReasonCode} {result.ReasonString}");
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_client.IsConnected)
        {
            try
            {
                // A clean disconnect does not fire the last will: say offline ourselves.
                await PublishAsync(StatusMessageOf(_status.Offline()), cancellationToken).ConfigureAwait(false);
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException or OperationCanceledException)
            {
                Log.BrokerDisconnectFailed(_logger, ex.Message);
            }
        }
    }

    public override void Dispose()
    {
        _client.Dispose();
        _dropped.Dispose();
        base.Dispose();
    }

    internal MqttApplicationMessage StatusMessageOf(StatusMessage status) => new MqttApplicationMessageBuilder()
        .WithTopic(MqttTopics.Status(_agent.DeviceId))
        .WithPayload(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(status, MqttJsonContext.Default.StatusMessage))
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithContentType("application/json")
        .WithRetainFlag()
        .Build();

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        Supervising = true;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await _dropped.WaitAsync(stoppingToken).ConfigureAwait(false);
                if (!_client.IsConnected)
                {
                    await ConnectWithRetryAsync(stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            Supervising = false;
        }
    }

    private Task OnDisconnected(MqttClientDisconnectedEventArgs e)
    {
        // Only a signal: reconnecting from this event can deadlock the client (MQTTnet's own advice).
        if (!_stopping)
        {
            Log.BrokerDisconnected(_logger, e.Reason.ToString(), e.Exception?.Message ?? "");
            _dropped.Set();
        }

        return Task.CompletedTask;
    }

    private async Task ConnectWithRetryAsync(CancellationToken cancellationToken)
    {
        var o = _broker.Value;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await ConnectOnceAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var ceiling = Math.Min(o.ReconnectMaxMs, o.ReconnectMinMs * Math.Pow(2, Math.Min(attempt, 20)));
                // Full jitter on the upper half, so a fleet of devices does not reconnect in lock step after a broker restart.
                var delay = TimeSpan.FromMilliseconds(ceiling * (0.5 + Random.Shared.NextDouble() * 0.5));
                Log.BrokerConnectFailed(_logger, Endpoint(o), attempt + 1, ex.Message, (int)delay.TotalMilliseconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ConnectOnceAsync(CancellationToken cancellationToken)
    {
        var o = _broker.Value;
        var builder = new MqttClientOptionsBuilder()
            .WithClientId($"edgellm-agent-{_agent.DeviceId}")
            .WithTcpServer(o.Embedded ? LoopbackOf(o.BindAddress) : o.Host, o.EffectivePort)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(o.KeepAliveSeconds))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(MqttTopics.Status(_agent.DeviceId))
            .WithWillPayload(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_status.Offline(), MqttJsonContext.Default.StatusMessage))
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (o.Embedded)
        {
            builder.WithCredentials(EmbeddedBroker.AgentUser, _embedded.AgentPassword);
        }
        else if (o.Username is not null)
        {
            builder.WithCredentials(o.Username, o.Password ?? "");
        }

        if (!o.Embedded && o.UseTls)
        {
            builder.WithTlsOptions(Tls(o));
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        var result = await _client.ConnectAsync(builder.Build(), timeout.Token).ConfigureAwait(false);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
        }

        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(MqttTopics.Ask(_agent.DeviceId), MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter(MqttTopics.Cancel(_agent.DeviceId), MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        var subscribed = await _client.SubscribeAsync(subscribe, timeout.Token).ConfigureAwait(false);
        foreach (var item in subscribed.Items)
        {
            if ((int)item.ResultCode > (int)MqttClientSubscribeResultCode.GrantedQoS2)
            {
                throw new InvalidOperationException($"the broker refused the subscription to {item.TopicFilter.Topic}: {item.ResultCode}");
            }
        }

        await SubscribeExtraAsync(timeout.Token).ConfigureAwait(false);
        await PublishAsync(StatusMessageOf(_status.Current()), timeout.Token).ConfigureAwait(false);
        Connections++;
        Log.BrokerConnected(_logger, Endpoint(o), Connections);
    }

    private async Task OnReceivedAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        await (_handler?.Invoke(e) ?? Task.CompletedTask).ConfigureAwait(false);
        foreach (var s in _subscribers)
        {
            if (s.TopicFilters.Any(f => TopicFilter.Matches(f, e.ApplicationMessage.Topic)))
            {
                await s.OnMessageAsync(e).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A refused extra subscription is logged, not fatal: asks must still be served when a mapped topic is off limits.</summary>
    private async Task SubscribeExtraAsync(CancellationToken cancellationToken)
    {
        var filters = _subscribers.SelectMany(s => s.TopicFilters).Distinct(StringComparer.Ordinal).ToList();
        if (filters.Count == 0)
        {
            return;
        }

        var builder = new MqttClientSubscribeOptionsBuilder();
        foreach (var f in filters)
        {
            builder.WithTopicFilter(f, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var subscribed = await _client.SubscribeAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
        foreach (var item in subscribed.Items.Where(i => (int)i.ResultCode > (int)MqttClientSubscribeResultCode.GrantedQoS2))
        {
            Log.SubscriptionRefused(_logger, item.TopicFilter.Topic, item.ResultCode.ToString());
        }
    }

    private static string LoopbackOf(string bind) => bind is "0.0.0.0" ? "127.0.0.1" : bind is "::" ? "::1" : bind;

    private static string Endpoint(BrokerOptions o) => o.Embedded ? $"embedded {o.BindAddress}:{o.EffectivePort}" : $"{o.Host}:{o.EffectivePort}";

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The client certificate lives as long as the connection options, i.e. the process.")]
    private static MqttClientTlsOptions Tls(BrokerOptions o)
    {
        var tls = new MqttClientTlsOptionsBuilder().UseTls().WithTargetHost(o.Host);
        if (o.CaFile is not null)
        {
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(o.CaFile);
            tls.WithTrustChain(chain);
        }

        if (o.ClientCertFile is not null && o.ClientKeyFile is not null)
        {
            tls.WithClientCertificates([X509Certificate2.CreateFromPemFile(o.ClientCertFile, o.ClientKeyFile)]);
        }

        return tls.Build();
    }
}
