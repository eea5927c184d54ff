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
        var server = new Option<string>("--server") { Description = "The fleet server, e.g. http://fleet.local:8080.", Required = true };
        var token = new Option<string>("--token") { Description = "The enrollment token an operator created (eet_…).", Required = true };
        var deviceId = new Option<string?>("--device-id") { Description = "The device's id (letters, digits, '.', '_', '-'; at most 64). Default: the config's Agent:DeviceId, else the host name." };
        var dataDir = CommonOptions.DataDir();
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var cmd = new Command("enroll", "Enroll this device with a fleet server and store its credential in the data directory.") { server, token, deviceId, dataDir, config, json };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            var asJson = parse.GetValue(json);
            var baseUri = ServerUri(parse.GetValue(server)!);
            var id = parse.GetValue(deviceId)
                ?? DevicePaths.Configuration(parse, config)[$"{AgentOptions.Section}:DeviceId"]
                ?? AgentOptions.DefaultDeviceId();
            if (!DeviceIdPattern().IsMatch(id))
            {
                throw new ArgumentException($"--device-id: '{id}' is not a device id (1 to 64 letters, digits, '.', '_' or '-'); pass --device-id");
            }

            var dir = DevicePaths.DataDir(parse, dataDir, config);
            var request = new EnrollRequest { Token = parse.GetValue(token)!, DeviceId = id, Hardware = HardwareFacts.Collect(dir) };
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            HttpResponseMessage response;
            try
            {
                response = await http.PostAsJsonAsync(new Uri(baseUri + FleetRoutes.Enroll), request, FleetJsonContext.Default.EnrollRequest, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                return CliOutput.Error(asJson, "unreachable", $"cannot reach the fleet server at {baseUri}: {ex.Message}");
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                return CliOutput.Error(asJson, "unreachable", $"the fleet server at {baseUri} did not answer within 30 s");
            }

            using (response)
            {
                if (response.StatusCode != HttpStatusCode.Created && response.StatusCode != HttpStatusCode.OK)
                {
                    var (code, message) = await RefusalAsync(response, id, ct).ConfigureAwait(false);
                    return CliOutput.Error(asJson, code, message);
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

                return 0;
            }
        }));
        return cmd;
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
