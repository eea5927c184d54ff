using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Net.Http.Headers;

namespace EdgeLlm.Fleet.Api;

/// <summary>A parsed body, or the 400/413 to answer instead.</summary>
internal readonly record struct Body<T>(T? Value, IResult? Error, byte[] Raw)
    where T : class;

/// <summary>
/// Reads request bodies with a hard byte limit and parses them with the source-generated context. Whatever a client
/// sends ends as a value, a 400 or a 413: never an exception that reaches the 500 handler.
/// </summary>
internal static class RequestBody
{
    /// <summary>A JSON body of type <typeparamref name="T"/>; <c>application/json</c> only, at most <paramref name="maxBytes"/>.</summary>
    public static async Task<Body<T>> ReadJsonAsync<T>(HttpRequest request, JsonTypeInfo<T> type, int maxBytes, CancellationToken cancellationToken)
        where T : class
    {
        if (!IsJson(request.ContentType))
        {
            return new(null, FleetResults.BadRequest("the body must be JSON: send 'Content-Type: application/json'"), []);
        }

        var (bytes, error) = await ReadBytesAsync(request, maxBytes, cancellationToken);
        if (error is not null)
        {
            return new(null, error, []);
        }

        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            // The reader skips unknown properties without checking them; refuse broken text anywhere in the body.
            return new(null, FleetResults.BadRequest("the body is not valid UTF-8"), []);
        }

        try
        {
            var value = JsonSerializer.Deserialize(bytes, type);
            return value is null
                ? new(null, FleetResults.BadRequest($"the body must be a JSON object ({Describe(type)}), not null"), [])
                : new(value, null, bytes);
        }
        catch (JsonException ex)
        {
            var where = ex.Path is { Length: > 0 } path ? $" at {path}" : "";
            return new(null, FleetResults.BadRequest($"the body is not a valid {Describe(type)}{where}: {FirstSentence(ex.Message)}"), []);
        }
    }

    /// <summary>The whole body, at most <paramref name="maxBytes"/>; empty bodies are refused.</summary>
    public static async Task<(byte[] Bytes, IResult? Error)> ReadBytesAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            return ([], TooLarge(maxBytes));
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(maxBytes + 1L, request.ContentLength + 1 ?? 16 * 1024));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > maxBytes)
                    {
                        return ([], TooLarge(maxBytes));
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(maxBytes + 1L, buffer.Length * 2L));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > maxBytes)
                {
                    return ([], TooLarge(maxBytes));
                }
            }

            return length == 0 ? ([], FleetResults.BadRequest("the request body is empty")) : (buffer.AsSpan(0, length).ToArray(), null);
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own MaxRequestBodySize, or a malformed chunked body.
            return ([], ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge(maxBytes)
                : FleetResults.BadRequest("the request body could not be read"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsJson(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return false;
        }

        var charsetOk = !media.Charset.HasValue || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase);
        return charsetOk && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));
    }

    private static IResult TooLarge(int maxBytes) => FleetResults.TooLarge($"the body is larger than {maxBytes} bytes");

    private static string Describe(JsonTypeInfo type) => type.Type.Name;

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". ", StringComparison.Ordinal);
        var text = cut > 0 ? message[..(cut + 1)] : message;
        return text.Length > 300 ? text[..300] : text;
    }
}
