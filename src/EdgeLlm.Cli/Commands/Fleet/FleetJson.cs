using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>JSON output in the fleet API's own wire shape (FleetJsonContext), so scripts see what the server sends.</summary>
internal static class FleetJson
{
    public static void Write<T>(T value, JsonTypeInfo<T> type)
    {
        using var stdout = Console.OpenStandardOutput();
        JsonSerializer.Serialize(stdout, value, type);
        stdout.WriteByte((byte)'\n');
    }

    /// <summary>One result: as JSON with --json, else as <paramref name="text"/> writes it.</summary>
    public static void Print<T>(bool json, T value, JsonTypeInfo<T> type, Action text)
    {
        if (json)
        {
            Write(value, type);
        }
        else
        {
            text();
        }
    }

    /// <summary>The result of a command that changes something and returns nothing: <c>{"ok":true,"message":…}</c> or the message.</summary>
    public static void Done(bool json, string message)
    {
        if (json)
        {
            CliOutput.WriteJson(new { Ok = true, Message = message });
        }
        else
        {
            Console.WriteLine(message);
        }
    }
}
