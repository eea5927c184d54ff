using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Sensors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Metrics;

internal static class MetricsRegistration
{
    /// <summary>
    /// Registers <see cref="AgentMetrics"/> (always: recording is nearly free while nobody listens) and the opt-in
    /// endpoint (section <c>Metrics</c>). The collector, and with it the gauges read from other services, exists only when
    /// <c>Metrics:Enabled</c> is true.
    /// </summary>
    public static IHostApplicationBuilder AddAgentMetrics(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddMetrics();
        services.AddOptionsWithValidateOnStart<MetricsOptions>().Bind(builder.Configuration.GetSection(MetricsOptions.Section));
        services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsValidator>();
        services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsRules>();
        services.AddSingleton<AgentMetrics>();
        services.AddSingleton(sp =>
        {
            var metrics = sp.GetRequiredService<AgentMetrics>();
            var status = sp.GetRequiredService<StatusBoard>();
            var hub = sp.GetRequiredService<SensorHub>();
            var downloader = sp.GetRequiredService<Downloader>();
            metrics.ObserveGauge("edgellm.queue.depth", "{question}", "Questions waiting: the agent's inbox and the model's queue.", () => status.Current().QueueDepth);
            metrics.ObserveCounter("edgellm.sensor.readings_stored", "{reading}", "Sensor readings accepted and written to the store.", () => hub.Written);
            metrics.ObserveCounter("edgellm.sensor.readings_rejected", "{reading}", "Sensor readings refused (unknown sensor, not finite, bad timestamp or unit).", () => hub.Rejections.Total);
            metrics.ObserveCounter("edgellm.update.download", "By", "Update payload bytes received from the fleet server, all attempts.", () => downloader.BytesReceived);
            return new MetricsCollector(metrics.Meter, sp.GetRequiredService<ILogger<MetricsCollector>>());
        });
        services.AddSingleton<MetricsServer>();
        services.AddHostedService(sp => sp.GetRequiredService<MetricsServer>());
        return builder;
    }
}
