using System.Globalization;
using System.Text.Json;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Sensors.Alerts;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace EdgeLlm.Agent.Sensors;

/// <summary>Publishes the hub's alerts as <see cref="AlertMessage"/> JSON to <c>edgellm/v1/{deviceId}/alerts</c> at QoS 1.</summary>
internal sealed class MqttAlertPublisher(MqttConnection connection, IOptions<AgentOptions> options) : IAlertPublisher
{
    private readonly string _topic = MqttTopics.Alerts(options.Value.DeviceId);

    public async ValueTask PublishAsync(SensorAlert alert, CancellationToken cancellationToken)
    {
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(_topic)
            .WithPayload(JsonSerializer.SerializeToUtf8Bytes(ToMessage(alert), MqttJsonContext.Default.AlertMessage))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json")
            .Build();
        // Throws while the broker is away; the hub logs the lost alert and keeps alerting.
        await connection.PublishAsync(message, cancellationToken).ConfigureAwait(false);
    }

    internal static AlertMessage ToMessage(SensorAlert a) => new()
    {
        SensorId = a.SensorId,
        SensorName = a.SensorName,
        Kind = a.Kind switch { AlertKind.High => "high", AlertKind.Low => "low", _ => "rate_of_change" },
        State = a.State == AlertState.Raised ? "raised" : "cleared",
        Value = a.Value,
        Limit = a.Limit,
        Unit = a.Unit,
        Ts = a.Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        Message = a.Message,
    };
}
