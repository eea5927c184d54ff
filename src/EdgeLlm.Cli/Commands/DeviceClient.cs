using System.Buffers;
using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Channels;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Mqtt;
using Microsoft.Extensions.Configuration;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EdgeLlm.Cli.Commands;

/// <summary>The options of the commands that talk to an agent over MQTT (ask, status, bench-mqtt).</summary>
internal sealed class DeviceClientOptions
{
    public Option<string?> Device { get; } = new("--device") { Description = "The device id. Default: the config's Agent:DeviceId, else this host's name." };
    public Option<string?> Broker { get; } = new("--broker") { Description = "Broker as HOST:PORT. Default: the agent's embedded broker on 127.0.0.1 (the config's Broker:Port, else 1883)." };
    public Option<string?> User { get; } = new("--user") { Description = "Broker username." };
    public Option<string?> Password { get; } = new("--password") { Description = "Broker password." };
    public Option<string?> Config { get; } = CommonOptions.Config();

    public void AddTo(Command command)
    {
        command.Add(Device);
        command.Add(Broker);
        command.Add(User);
        command.Add(Password);
        command.Add(Config);
    }

    public string DeviceId(ParseResult parse) =>
        parse.GetValue(Device) ?? DevicePaths.Configuration(parse, Config)[$"{AgentOptions.Section}:DeviceId"] ?? AgentOptions.DefaultDeviceId();

    public (string Host, int Port) Endpoint(ParseResult parse)
    {
        if (parse.GetValue(Broker) is { } given)
        {
            var colon = given.LastIndexOf(':');
            return colon > 0 && int.TryParse(given[(colon + 1)..], out var port) && port is > 0 and < 65536
                ? (given[..colon], port)
                : throw new ArgumentException($"--broker: '{given}' is not HOST:PORT");
        }

        var config = DevicePaths.Configuration(parse, Config);
        var external = config["Broker:Mode"] == "external";
        var host = external ? config["Broker:Host"] ?? "127.0.0.1" : "127.0.0.1";
        return (host, int.TryParse(config["Broker:Port"], out var p) ? p : 1883);
    }

    public Task<DeviceClient> ConnectAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var (host, port) = Endpoint(parse);
        return DeviceClient.ConnectAsync(host, port, DeviceId(parse), parse.GetValue(User), parse.GetValue(Password), cancellationToken);
    }
}

/// <summary>An MQTT 5 client of one device: asks with a response topic and correlation data, reads the status.</summary>
internal sealed class DeviceClient : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly Dictionary<string, Channel<ReplyMessage>> _pending = [];
    private readonly Lock _lock = new();
    private readonly string _replyTopic;

    private DeviceClient(IMqttClient client, string deviceId, string replyTopic)
    {
        _client = client;
        DeviceId = deviceId;
        _replyTopic = replyTopic;
        _client.ApplicationMessageReceivedAsync += OnMessage;
    }

    public string DeviceId { get; }

    public static async Task<DeviceClient> ConnectAsync(string host, int port, string deviceId, string? user, string? password, CancellationToken cancellationToken)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var clientId = "edgellm-cli-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var builder = new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithCleanStart(true).WithTimeout(TimeSpan.FromSeconds(10));
        if (user is not null)
        {
            builder.WithCredentials(user, password ?? "");
        }

        try
        {
            var result = await client.ConnectAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
            {
                throw new IOException($"broker {host}:{port} refused the connection: {result.ResultCode}");
            }
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException ex)
        {
            client.Dispose();
            throw new IOException($"cannot reach the broker at {host}:{port} ({ex.Message}); is `edgellm agent` running? (--broker HOST:PORT)", ex);
        }

        var device = new DeviceClient(client, deviceId, MqttTopics.Reply(deviceId, clientId));
        await client.SubscribeAsync(device._replyTopic, MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken).ConfigureAwait(false);
        return device;
    }

    /// <summary>Sends an ask and streams its replies until the final answer or error.</summary>
    public async IAsyncEnumerable<ReplyMessage> AskAsync(AskRequest ask, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var id = ask.Id ?? Guid.CreateVersion7().ToString("n");
        var replies = Channel.CreateUnbounded<ReplyMessage>();
        lock (_lock)
        {
            _pending[id] = replies;
        }

        try
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(MqttTopics.Ask(DeviceId))
                .WithPayload(JsonSerializer.SerializeToUtf8Bytes(ask with { Id = id }, MqttJsonContext.Default.AskRequest))
                .WithResponseTopic(_replyTopic)
                .WithCorrelationData(System.Text.Encoding.UTF8.GetBytes(id))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            await _client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                ReplyMessage reply;
                try
                {
                    reply = await replies.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_client.IsConnected)
                {
                    await CancelAsync(id).ConfigureAwait(false);
                    throw;
                }

                yield return reply;
                if (reply is not ChunkMessage)
                {
                    yield break;
                }
            }
        }
        finally
        {
            lock (_lock)
            {
                _pending.Remove(id);
            }
        }
    }

    /// <summary>The retained status, or null when none arrives within <paramref name="wait"/>.</summary>
    public async Task<StatusMessage?> StatusAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var got = new TaskCompletionSource<StatusMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var topic = MqttTopics.Status(DeviceId);
        _client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic == topic)
            {
                var reader = new Utf8JsonReader(e.ApplicationMessage.Payload);
                if (JsonSerializer.Deserialize(ref reader, MqttJsonContext.Default.StatusMessage) is { } status)
                {
                    got.TrySetResult(status);
                }
            }

            return Task.CompletedTask;
        };
        await _client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken).ConfigureAwait(false);
        try
        {
            return await got.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>
    /// Subscribes to one of the device's topics (its <see cref="MqttTopics.Events"/>, its status); <paramref name="onMessage"/>
    /// gets every payload on it, retained ones included. It runs on the client's receive loop, so it must be quick.
    /// </summary>
    public async Task FollowAsync(string topic, Action<ReadOnlySequence<byte>> onMessage, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onMessage);
        _client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic == topic)
            {
                onMessage(e.ApplicationMessage.Payload);
            }

            return Task.CompletedTask;
        };
        await _client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false);
        }

        _client.Dispose();
    }

    private async Task CancelAsync(string id)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new CancelRequest { Id = id }, MqttJsonContext.Default.CancelRequest);
        await _client.PublishBinaryAsync(MqttTopics.Cancel(DeviceId), payload, MqttQualityOfServiceLevel.AtLeastOnce, false, CancellationToken.None).ConfigureAwait(false);
    }

    private Task OnMessage(MqttApplicationMessageReceivedEventArgs e)
    {
        if (e.ApplicationMessage.Topic != _replyTopic)
        {
            return Task.CompletedTask;
        }

        ReplyMessage? reply;
        try
        {
            var reader = new Utf8JsonReader(e.ApplicationMessage.Payload);
            reply = JsonSerializer.Deserialize(ref reader, MqttJsonContext.Default.ReplyMessage);
        }
        catch (JsonException)
        {
            // Not a reply of ours; the agent only sends well-formed ones.
            return Task.CompletedTask;
        }

        if (reply is not null)
        {
            lock (_lock)
            {
                if (_pending.TryGetValue(reply.Id, out var channel))
                {
                    channel.Writer.TryWrite(reply);
                }
            }
        }

        return Task.CompletedTask;
    }
}
