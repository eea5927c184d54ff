using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Api;

internal static class OpenApiExtensions
{
    /// <summary>Declares <see cref="FleetError"/> bodies for these status codes in the OpenAPI document.</summary>
    public static TBuilder ProducesErrors<TBuilder>(this TBuilder builder, params int[] statusCodes)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statusCodes)
        {
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(FleetError), ["application/json"]));
        }

        return builder;
    }
}
