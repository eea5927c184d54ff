using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

internal static class FleetRegistration
{
    /// <summary>
    /// Fleet sync: <c>Fleet</c> options validated at start, the outbox in agent.db, the request recorder the dispatcher
    /// reports to, the telemetry sampler, the uploader and the desired-state sync. Without fleet.json the sampler still
    /// fills the (bounded) outbox and the network loops stay idle.
    /// </summary>
    public static IHostApplicationBuilder AddFleetSync(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<FleetOptions>().Bind(builder.Configuration.GetSection(FleetOptions.Section));
        services.AddSingleton<IValidateOptions<FleetOptions>, FleetOptionsValidator>();
        services.AddSingleton<IValidateOptions<FleetOptions>, FleetOptionsRules>();
        services.AddSingleton<Outbox>();
        services.AddSingleton<FleetLink>();
        services.AddSingleton<QueryLogPolicy>();
        services.AddSingleton<RequestTelemetry>();
        services.AddSingleton<IRequestRecorder>(sp => sp.GetRequiredService<RequestTelemetry>());
        services.AddSingleton<IDeviceProbe, DeviceProbe>();
        services.AddSingleton<TelemetrySampler>();
        services.AddSingleton<FleetUploader>();
        services.AddSingleton<DesiredStateSync>();
        services.AddHostedService(sp => sp.GetRequiredService<DesiredStateSync>());
        services.AddHostedService(sp => sp.GetRequiredService<TelemetrySampler>());
        services.AddHostedService(sp => sp.GetRequiredService<FleetUploader>());
        return builder;
    }
}
