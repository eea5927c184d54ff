using EdgeLlm.Fleet.Dashboard;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Rollouts;

internal static class RolloutRegistration
{
    /// <summary>Rollouts: options (validated at start), the engine, its background loop, the API and the dashboard section.</summary>
    public static IHostApplicationBuilder AddRollouts(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<RolloutOptions>().Bind(builder.Configuration.GetSection(Hosting.FleetOptions.Section));
        services.AddSingleton<IValidateOptions<RolloutOptions>, RolloutOptionsValidator>();
        services.AddSingleton<RolloutEngine>();
        services.AddSingleton<RolloutTrigger>();
        services.AddSingleton<RolloutApi>();
        services.AddSingleton<IDashboardSection, RolloutDashboardSection>();
        services.AddHostedService<RolloutLoop>();
        return builder;
    }
}
