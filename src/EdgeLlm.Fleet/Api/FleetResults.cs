using System.Text.Json.Serialization.Metadata;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Api;

/// <summary>Responses in the fleet's wire format (source-generated JSON, <see cref="FleetError"/> bodies).</summary>
internal static class FleetResults
{
    /// <summary>A route handler whose <see cref="IResult"/> is written (a plain lambda would bind as a RequestDelegate and drop it).</summary>
    public static Delegate Handler(Func<HttpContext, Task<IResult>> handler) => handler;

    public static IResult Error(int status, string code, string message) =>
        TypedResults.Json(FleetError.Of(code, message), FleetJsonContext.Default.FleetError, statusCode: status);

    public static IResult BadRequest(string message) => Error(StatusCodes.Status400BadRequest, FleetErrorCodes.InvalidRequest, message);

    public static IResult TooLarge(string message) => Error(StatusCodes.Status413PayloadTooLarge, FleetErrorCodes.TooLarge, message);

    public static IResult NotFound(string message) => Error(StatusCodes.Status404NotFound, FleetErrorCodes.NotFound, message);

    public static IResult Json<T>(T value, JsonTypeInfo<T> type, int status = StatusCodes.Status200OK) =>
        TypedResults.Json(value, type, statusCode: status);

    /// <summary>Writes an error directly (middleware, where there is no endpoint to return an <see cref="IResult"/>).</summary>
    public static Task WriteErrorAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(FleetError.Of(code, message), FleetJsonContext.Default.FleetError, cancellationToken: context.RequestAborted);
    }
}
