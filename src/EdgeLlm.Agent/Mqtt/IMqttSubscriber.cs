using MQTTnet;

namespace EdgeLlm.Agent.Mqtt;

/// <summary>
/// A piece of the agent that needs topics of its own (beyond ask and cancel). Register it with
/// <see cref="MqttConnection.AddSubscriber"/> before the connection starts; its filters are subscribed on every
/// (re)connection and every message matching one of them is handed to <see cref="OnMessageAsync"/>.
/// </summary>
internal interface IMqttSubscriber
{
    /// <summary>Topic filters to subscribe to (fixed after start).</summary>
    IReadOnlyList<string> TopicFilters { get; }

    /// <summary>Handles one message. It must only validate and enqueue: MQTTnet acknowledges the message after it returns.</summary>
    Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e);
}
