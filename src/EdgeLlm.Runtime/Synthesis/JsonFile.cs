using System.Text.Encodings.Web;
using System.Text.Json;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>Writes the JSON files of a model folder: indented, with non-ASCII text (byte-level symbols) kept readable.</summary>
internal static class JsonFile
{
    private static readonly JsonWriterOptions Options = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Write(string path, Action<Utf8JsonWriter> write)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var writer = new Utf8JsonWriter(stream, Options);
        write(writer);
    }
}
