using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// <c>{data dir}/fleet.json</c>: where the device's fleet server is and the credential it got at enrollment. Written by
/// <c>edgellm enroll</c> (atomically, mode 0600), read by the agent.
/// </summary>
internal sealed record FleetCredentials
{
    public const string FileName = "fleet.json";

    /// <summary>The server's base address, e.g. <c>http://fleet.local:8080</c>.</summary>
    public required string Server { get; init; }

    public required string DeviceId { get; init; }

    /// <summary><c>edc_…</c>: sent as <c>Authorization: Bearer</c>.</summary>
    public required string Credential { get; init; }

    public static string PathIn(string dataDir) => Path.Combine(dataDir, FileName);

    /// <summary>Reads and checks the file; null when it does not exist. A broken file is an <see cref="InvalidDataException"/> naming it.</summary>
    public static FleetCredentials? Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        FleetCredentials? c;
        try
        {
            c = JsonSerializer.Deserialize(bytes, FleetCredentialsJson.Default.FleetCredentials);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not a valid fleet credential file ({ex.Message}); run `edgellm enroll` again", ex);
        }

        if (c is null || !Uri.TryCreate(c.Server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || c.Credential.Length == 0 || c.DeviceId.Length == 0)
        {
            throw new InvalidDataException($"{path} lacks a valid server, device_id or credential; run `edgellm enroll` again");
        }

        return c;
    }

    /// <summary>Writes the file atomically (a temporary file renamed over it) with mode 0600: only the agent's user may read the credential.</summary>
    public void Write(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{FileName}.{Guid.NewGuid():n}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var stream = new FileStream(temp, options))
            {
                JsonSerializer.Serialize(stream, this, FleetCredentialsJson.Default.FleetCredentials);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Base address plus <paramref name="route"/> (the server may sit under a path prefix).</summary>
    public Uri Route(string route) => new(Server.TrimEnd('/') + route, UriKind.Absolute);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(FleetCredentials))]
internal sealed partial class FleetCredentialsJson : JsonSerializerContext;
