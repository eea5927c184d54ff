using EdgeLlm.Agent.Queries;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Knowledge;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Knowledge;

internal static class ManualsRegistration
{
    /// <summary>
    /// Manual passages as question context and retrieval-only answers, and the installer of manuals bundles; the
    /// <c>Knowledge</c> section (the agent's <see cref="ManualsOptions"/> and the index's own <see cref="KnowledgeOptions"/>,
    /// as <c>edgellm manuals</c> reads it) validated at start.
    /// </summary>
    public static IHostApplicationBuilder AddManuals(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<ManualsOptions>().Bind(builder.Configuration.GetSection(ManualsOptions.Section));
        services.AddSingleton<IValidateOptions<ManualsOptions>, ManualsOptionsValidator>();
        services.AddOptionsWithValidateOnStart<KnowledgeOptions>().Bind(builder.Configuration.GetSection(ManualsOptions.Section));
        services.AddSingleton<IValidateOptions<KnowledgeOptions>, KnowledgeOptionsValidator>();
        services.AddSingleton<Manuals>();
        services.AddSingleton<IBundleInstaller, ManualsBundleInstaller>();
        services.AddSingleton<IContextSource, ManualsContextSource>();
        services.AddSingleton<IRetrievalAnswerer, ManualsRetrievalAnswerer>();
        return builder;
    }
}
