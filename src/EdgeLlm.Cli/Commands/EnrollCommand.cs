using System.CommandLine;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Cli.Commands;

/// <summary>
/// `edgellm enroll`: presents an enrollment token and the device's hardware facts to the fleet server, and stores the
/// credential it gets in DATA_DIR/fleet.json (atomically, mode 0600), where the agent finds it, also while running.
/// </summary>
internal static partial class EnrollCommand
{
    public static Command Build()
    {
        var server = new Option<string?>("--server") { Description = "The fleet server, e.g. http://fleet.local:8080. Required unless --from-file." };
        var token = new Option<string?>("--token") { Description = "The enrollment token an operator created (eet_…). Required unless --from-file." };
        var deviceId = new Option<string?>("--device-id") { Description = "The device's id (letters, digits, '.', '_', '-'; at most 64). Default: the config's Agent:DeviceId, else the host name." };
        var fromFile = new Option<string?>("--from-file")
        {
            Description = "First boot: read {server, token, device_id?} from this one-time token file. Nothing happens when it is absent or the "
                + "device is already enrolled; an unreachable server is a warning (exit 0), so a systemd ExecStartPre= never blocks the agent.",
        };
        var deleteAfter = new Option<bool>("--delete-after") { Description = "With --from-file: delete the token file once it is used up (enrolled, or already enrolled); it stays after a failure." };
        var dataDir = CommonOptions.DataDir();
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var cmd = new Command("enroll", "Enroll this device with a fleet server and store its credential in the data directory.")
        {
            server, token, deviceId, fromFile, deleteAfter, dataDir, config, json,
        };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var asJson = parse.GetValue(json);
            var dir = DevicePaths.DataDir(parse, dataDir, config);
            if (parse.GetValue(fromFile) is { } file)
            {
                if (parse.GetValue(server) is not null || parse.GetValue(token) is not null)
                {
                    throw new ArgumentException("--from-file: the token file names the server and the token; leave out --server and --token");
                }

                return await FromFileAsync(file, parse.GetValue(deleteAfter), parse.GetValue(deviceId), dir, () => ConfiguredDeviceId(parse, config), asJson, ct).ConfigureAwait(false);
            }

            if (parse.GetValue(deleteAfter))
            {
                throw new ArgumentException("--delete-after: only goes with --from-file");
            }

            var serverValue = parse.GetValue(server) ?? throw new ArgumentException("--server: is required (or give --from-file)");
            var tokenValue = parse.GetValue(token) ?? throw new ArgumentException("--token: is required (or give --from-file)");
            var id = parse.GetValue(deviceId) ?? ConfiguredDeviceId(parse, config);
            var outcome = await EnrollAsync(ServerUri(serverValue), tokenValue, id, dir, asJson, ct).ConfigureAwait(false);
            return outcome.Succeeded ? 0 : CliOutput.Error(asJson, outcome.Code, outcome.Message);
        }));
        return cmd;
    }

    /// <summary>
    /// The first-boot path: enrolls from a token file when there is one and no credential yet. An unreachable (or
    /// temporarily failing) server is a warning with exit 0 and the file stays for the next start; a refusal or a
    /// malformed file is an error (exit 1) and the file stays too, for the operator to look at.
    /// </summary>
    private static async Task<int> FromFileAsync(
        string file, bool deleteAfter, string? deviceId, string dir, Func<string> configuredId, bool asJson, CancellationToken ct)
    {
        if (!File.Exists(file))
        {
            return 0;
        }

        var credentials = FleetCredentials.PathIn(dir);
        if (File.Exists(credentials))
        {
            Console.Error.WriteLine($"edgellm: already enrolled ({credentials} exists); the token file {file} is not used" + (deleteAfter ? " and is deleted" : ""));
            if (deleteAfter)
            {
                File.Delete(file);
            }

            return 0;
        }

        var (server, token, fileDeviceId) = ReadTokenFile(file);
        var outcome = await EnrollAsync(server, token, deviceId ?? fileDeviceId ?? configuredId(), dir, asJson, ct).ConfigureAwait(false);
        if (outcome.Succeeded)
        {
            if (deleteAfter)
            {
                File.Delete(file);
            }

            return 0;
        }

        if (outcome.Transient)
        {
            Console.Error.WriteLine($"edgellm: warning: not enrolled yet: {outcome.Message}; the token file {file} stays and is tried again at the next start");
            return 0;
        }

        return CliOutput.Error(asJson, outcome.Code, $"{outcome.Message} (token file {file} left in place)");
    }

    /// <summary>Reads <c>{"server": URL, "token": T, "device_id"?: ID}</c>; a bad file names the file and the field.</summary>
    internal static (string Server, string Token, string? DeviceId) ReadTokenFile(string file)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(file));
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"--from-file: '{file}' is not JSON: {ex.Message}", ex);
        }

        using (doc)
        {
            string? Field(string name) =>
                doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                    ? v.GetString()
                    : null;
            var server = Field("server") ?? throw new InvalidDataException($"--from-file: '{file}' has no \"server\" string");
            var token = Field("token") ?? throw new InvalidDataException($"--from-file: '{file}' has no \"token\" string");
            return (ServerUri(server), token, Field("device_id"));
        }
    }

    private static string ConfiguredDeviceId(ParseResult parse, Option<string?> config) =>
        DevicePaths.Configuration(parse, config)[$"{AgentOptions.Section}:DeviceId"] ?? AgentOptions.DefaultDeviceId();

    private sealed record Outcome(bool Succeeded, bool Transient, string Code, string Message)
    {
        public static readonly Outcome Success = new(true, false, "", "");
    }

    private static async Task<Outcome> EnrollAsync(string baseUri, string token, string id, string dir, bool asJson, CancellationToken ct)
    {
        if (!DeviceIdPattern().IsMatch(id))
        {
            throw new ArgumentException($"--device-id: '{id}' is not a device id (1 to 64 letters, digits, '.', '_' or '-'); pass --device-id");
        }

        var request = new EnrollRequest { Token = token, DeviceId = id, Hardware = HardwareFacts.Collect(dir) };
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsJsonAsync(new Uri(baseUri + FleetRoutes.Enroll), request, FleetJsonContext.Default.EnrollRequest, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            return new Outcome(false, true, "unreachable", $"cannot reach the fleet server at {baseUri}: {ex.Message}");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Outcome(false, true, "unreachable", $"the fleet server at {baseUri} did not answer within 30 s");
        }

        using (response)
        {
            if (response.StatusCode != HttpStatusCode.Created && response.StatusCode != HttpStatusCode.OK)
            {
                var (code, message) = await RefusalAsync(response, id, ct).ConfigureAwait(false);
                // A 5xx (a restarting server, a proxy without its upstream) is worth trying again; a 4xx is not.
                return new Outcome(false, (int)response.StatusCode >= 500, code, message);
            }

            var enrolled = await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.EnrollResponse, ct).ConfigureAwait(false)
                ?? throw new InvalidDataException($"the fleet server at {baseUri} answered enrollment with an empty body");
            var path = FleetCredentials.PathIn(dir);
            new FleetCredentials { Server = baseUri, DeviceId = enrolled.DeviceId, Credential = enrolled.Credential }.Write(path);
            if (asJson)
            {
                CliOutput.WriteJson(new { device_id = enrolled.DeviceId, server = baseUri, credential_file = path, tags = enrolled.Tags, hardware = request.Hardware });
            }
            else
            {
                Console.WriteLine($"enrolled device '{enrolled.DeviceId}' with {baseUri}; credential stored in {path} (mode 0600)");
                Console.WriteLine("a running agent picks it up within its upload interval (Fleet:UploadIntervalSeconds); no restart needed");
            }

            return Outcome.Success;
        }
    }

    /// <summary>The server's base address without a trailing slash.</summary>
    internal static string ServerUri(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0
            ? uri.GetLeftPart(UriPartial.Path).TrimEnd('/')
            : throw new ArgumentException($"--server: '{value}' is not an http:// or https:// URL");

    private static async Task<(string Code, string Message)> RefusalAsync(HttpResponseMessage response, string id, CancellationToken ct)
    {
        string? detail = null;
        try
        {
            detail = (await response.Content.ReadFromJsonAsync(FleetJsonContext.Default.FleetError, ct).ConfigureAwait(false))?.Error.Message;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or HttpRequestException)
        {
            // Not a fleet server error body (a proxy's page): the status says enough.
        }

        var suffix = detail is null ? "" : $" ({detail})";
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => ("unauthorized", $"the fleet server refused the enrollment token: unknown, used up or expired{suffix}; ask the operator for a new one"),
            HttpStatusCode.Forbidden => ("forbidden", $"the fleet server refused device '{id}': it was revoked{suffix}; an operator must enroll it under a new id"),
            HttpStatusCode.BadRequest => ("invalid_request", $"the fleet server refused the enrollment as invalid{suffix}"),
            _ => ("error", $"the fleet server answered enrollment with HTTP {(int)response.StatusCode}{suffix}"),
        };
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex DeviceIdPattern();
}
