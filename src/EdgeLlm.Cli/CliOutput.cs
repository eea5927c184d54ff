using System.Text.Encodings.Web;
using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Cli;

/// <summary>Output conventions shared by every command: results to stdout, errors to stderr with a non-zero exit code.</summary>
internal static class CliOutput
{
    /// <summary>Exit code for an error the user can fix (bad input, bad model folder).</summary>
    public const int UserError = 1;

    /// <summary>Exit code for an interrupted command (Ctrl+C).</summary>
    public const int Cancelled = 130;

    public static readonly JsonSerializerOptions Json = new()
    {
        // Keep non-ASCII text readable; the output is UTF-8 JSON, not HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static void WriteJson<T>(T value)
    {
        using var stdout = Console.OpenStandardOutput();
        JsonSerializer.Serialize(stdout, value, Json);
        stdout.WriteByte((byte)'\n');
    }

    /// <summary>Runs a command body, turning the errors a user can cause into one clear line on stderr.</summary>
    public static async Task<int> RunAsync(bool json, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return Error(json, "cancelled", "cancelled", Cancelled);
        }
        catch (Exception ex) when (IsUserError(ex))
        {
            return Error(json, CodeOf(ex), ex.Message, UserError);
        }
    }

    public static int Run(bool json, Func<int> body) => RunAsync(json, () => Task.FromResult(body())).GetAwaiter().GetResult();

    public static int Error(bool json, string code, string message, int exitCode = UserError)
    {
        if (json)
        {
            using var stderr = Console.OpenStandardError();
            JsonSerializer.Serialize(stderr, new { error = new { code, message } }, Json);
            stderr.WriteByte((byte)'\n');
        }
        else
        {
            Console.Error.WriteLine($"edgellm: {message}");
        }

        return exitCode;
    }

    private static bool IsUserError(Exception ex) => ex is ModelFolderException or ArgumentException or IOException
        or UnauthorizedAccessException or JsonException or FormatException or InvalidDataException
        || ex.GetType().Name.EndsWith("Exception", StringComparison.Ordinal) && ex.GetType().Namespace?.StartsWith("EdgeLlm", StringComparison.Ordinal) == true;

    private static string CodeOf(Exception ex) => ex switch
    {
        ModelFolderException => "model_folder",
        ArgumentException => "invalid_argument",
        IOException or UnauthorizedAccessException => "io",
        JsonException => "invalid_json",
        _ => "error",
    };
}
