using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Sensors;
using EdgeLlm.Sensors.Alerts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Sensors;

/// <summary>The sensors piece inside the agent: the hub on agent.db, its MQTT topics, alerts and prompt context.</summary>
internal static class AgentSensors
{
    /// <summary>
    /// Registers the <see cref="SensorHub"/> (store in <c>{Agent:DataDir}/agent.db</c>), the MQTT alert publisher, the
    /// <see cref="SensorMqttIntake"/> (readings and structured queries) and the <see cref="SensorContextSource"/>.
    /// Call before the MQTT connection is registered, so the hub stops after it (every accepted reading is written).
    /// </summary>
    public static IHostApplicationBuilder AddAgentSensors(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IAlertPublisher, MqttAlertPublisher>();
        builder.AddEdgeSensors(sp => Path.Combine(sp.GetRequiredService<IOptions<AgentOptions>>().Value.DataDir, "agent.db"));
        builder.Services.AddSingleton<SensorMqttIntake>();
        builder.Services.AddSingleton<IMqttSubscriber>(sp => sp.GetRequiredService<SensorMqttIntake>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SensorMqttIntake>());
        builder.Services.AddSingleton<IContextSource, SensorContextSource>();
        return builder;
    }
}
