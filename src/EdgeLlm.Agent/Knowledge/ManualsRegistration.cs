using EdgeLlm.Agent.Queries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Knowledge;

internal static class ManualsRegistration
{
    /// <summary>Manual passages as question context and retrieval-only answers; <c>Knowledge</c> options validated at start.</summary>
    public static IHostApplicationBuilder AddManuals(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<ManualsOptions>().Bind(builder.Configuration.GetSection(ManualsOptions.Section));
        services.AddSingleton<IValidateOptions<ManualsOptions>, ManualsOptionsValidator>();
        services.AddSingleton<Manuals>();
        services.AddSingleton<IContextSource, ManualsContextSource>();
        services.AddSingleton<IRetrievalAnswerer, ManualsRetrievalAnswerer>();
        return builder;
    }
}
