using EdgeLlm.Contracts.Fleet;
using Microsoft.OpenApi;

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

    /// <summary>
    /// Documents a JSON request body of <typeparamref name="T"/>. Not <c>Accepts&lt;T&gt;</c>: that also makes routing
    /// answer other content types with an empty 415, where the contract wants a 400 FleetError from the body reader.
    /// </summary>
    public static RouteHandlerBuilder JsonBody<T>(this RouteHandlerBuilder builder) =>
        builder.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(T), null, cancellationToken);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
            };
        });
}
