using System.Diagnostics.Metrics;
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
    /// endpoint (section <c>Metrics</c>). The collector exists only when <c>Metrics:Enabled</c> is true, and the gauges read
    /// from other services are added by the endpoint when it starts.
    /// </summary>
    public static IHostApplicationBuilder AddAgentMetrics(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddMetrics();
        services.AddOptionsWithValidateOnStart<MetricsOptions>().Bind(builder.Configuration.GetSection(MetricsOptions.Section));
        services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsValidator>();
        services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsRules>();
        services.AddSingleton(sp => new AgentMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<MetricsOptions>>().Value.Enabled, sp.GetRequiredService<ILogger<MetricsCollector>>()));
        services.AddSingleton<MetricsServer>();
        services.AddHostedService(sp => sp.GetRequiredService<MetricsServer>());
        return builder;
    }
}
