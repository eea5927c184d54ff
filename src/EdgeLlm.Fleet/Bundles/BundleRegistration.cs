using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Bundles;

internal static class BundleRegistration
{
    /// <summary>The bundle registry: its options (validated at start, every trusted key must load), the artifact files, the API.</summary>
    public static IHostApplicationBuilder AddBundleRegistry(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<BundleRegistryOptions>().Bind(builder.Configuration.GetSection(Hosting.FleetOptions.Section));
        services.AddSingleton<IValidateOptions<BundleRegistryOptions>, BundleRegistryOptionsValidator>();
        services.AddSingleton<IValidateOptions<BundleRegistryOptions>, BundleTrustValidator>();
        services.AddSingleton<ArtifactStore>();
        services.AddSingleton<ArtifactReaderFilter>();
        services.AddSingleton<BundleApi>();
        return builder;
    }
}
