using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm bundle create|inspect|verify|import`: signed `.edgebundle` files (format: <see cref="BundleFormat"/>).</summary>
internal static class BundleCommand
{
    public static Command Build()
    {
        var bundle = new Command("bundle", "Signed bundles (.edgebundle) of models, adapters, manuals and config.");
        bundle.Add(BuildCreate());
        bundle.Add(BuildInspect());
        bundle.Add(BuildVerify());
        bundle.Add(BuildImport());
        return bundle;
    }

    private static Command BuildImport()
    {
        var file = new Argument<string>("FILE") { Description = "The .edgebundle file (read only: a USB stick stays as it is)." };
        var dataDir = CommonOptions.DataDir();
        var config = CommonOptions.Config();
        var trust = new Option<string[]>("--trust") { Description = "Trusted publisher public key (NAME.pub); repeatable. Default: Updates:TrustedKeys of the device configuration." };
        var json = CommonOptions.Json();
        var cmd = new Command("import", "Verify a bundle (model, adapter, manuals or config) and activate it on a stopped agent's data directory (air-gapped updates): the agent's own checks, smoke test and rollback. Exit 0 when active, 1 with the reason.")
        {
            file, dataDir, config, trust, json,
        };
        cmd.SetAction((parse, ct) => BundleCliOutput.RunAsync(parse, parse.GetValue(json), async () =>
        {
            var configuration = DevicePaths.Configuration(parse, config);
            var agent = configuration.GetSection(AgentOptions.Section).Get<AgentOptions>() ?? new AgentOptions();
            agent.DataDir = DevicePaths.DataDir(parse, dataDir, config);
            var keys = parse.GetValue(trust) is { Length: > 0 } given
                ? given
                : configuration.GetSection($"{UpdateCoordinatorOptions.Section}:{nameof(UpdateCoordinatorOptions.TrustedKeys)}").Get<string[]>() ?? [];
            if (keys.Length == 0)
            {
                throw new ArgumentException("no trusted publisher key: give --trust PUB or set Updates:TrustedKeys in the device configuration");
            }

            using var trusted = BundleTrust.Load(keys);
            var output = parse.InvocationConfiguration.Output;
            var progress = new StepWriter(parse.GetValue(json) ? null : output);
            var switches = new AgentSwitches { ConfigFile = parse.GetValue(config), DataDir = agent.DataDir };
            var result = await ImportOffline.RunAsync(parse.GetValue(file)!, agent, trusted, progress, NullLoggerFactory.Instance, ct, switches).ConfigureAwait(false);
            if (!result.Activated)
            {
                var code = result.State == UpdateStates.Refused ? "bundle_refused" : "activation_failed";
                return BundleCliOutput.Fail(parse, parse.GetValue(json), code, $"{result.Name} {result.Version} not activated: {result.Text}", result.State, result.Reason);
            }

            if (parse.GetValue(json))
            {
                var configs = new ConfigSlots(agent.DataDir);
                BundleCliOutput.WriteJson(parse, new
                {
                    result.Name,
                    result.Version,
                    result.State,
                    result.Reason,
                    result.RestartRequired,
                    Slots = new ModelSlots(agent.DataDir).Describe(),
                    Config = new { configs.Root, Active = configs.Active, Previous = configs.Previous },
                });
            }
            else if (result.Kind == BundleKind.Config)
            {
                output.WriteLine($"{result.Name} {result.Version} is the active config of {agent.DataDir} ({result.Text}); the agent reads it when it starts");
            }
            else
            {
                output.WriteLine($"{result.Name} {result.Version} is the active model of {agent.DataDir}; start the agent to serve it");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command BuildCreate()
    {
        var kind = new Option<string>("--kind") { Description = "model, adapter, manuals or config.", Required = true };
        kind.AcceptOnlyFromAmong("model", "adapter", "manuals", "config");
        var from = new Option<string>("--from") { Description = "Folder whose files (all of them, recursively; no symbolic links) become the payload.", Required = true };
        var name = new Option<string>("--name") { Description = "Bundle name: 1-64 letters, digits, '.', '_', '-'.", Required = true };
        var version = new Option<string>("--version") { Description = "Semantic version, e.g. 1.2.0.", Required = true };
        var key = new Option<string>("--key") { Description = "Private key file (NAME.key from `edgellm keys generate`).", Required = true };
        var licence = new Option<string>("--licence") { Description = "Licence of the payload.", DefaultValueFactory = _ => "unspecified" };
        var smoke = new Option<string?>("--smoke") { Description = "Smoke test JSON: {\"prompts\":[{\"prompt\",\"max_tokens\",\"expect_substrings\"?}],\"min_tokens_per_s\"?,\"timeout_seconds\"}." };
        var minMemory = new Option<string?>("--min-memory") { Description = "Memory the payload needs: bytes or with K, M, G (binary), e.g. 1.5G. Default 0." };
        var minDisk = new Option<string?>("--min-disk") { Description = "Disk the payload needs, like --min-memory. Default: the payload's size." };
        var minAgent = new Option<string?>("--min-agent-version") { Description = "Oldest agent version that can use the bundle." };
        var provider = new Option<string[]>("--provider") { Description = "Execution provider the payload runs on (repeatable; none = any)." };
        var gzip = new Option<bool>("--gzip") { Description = "Gzip the archive (worth it for manuals and config, not for int4 weights)." };
        var output = new Option<string>("--out") { Description = "The .edgebundle file to write (replaced atomically).", Required = true };
        var json = CommonOptions.Json();
        var cmd = new Command("create", "Hash, sign and pack a folder into a bundle.")
        {
            kind, from, name, version, key, licence, smoke, minMemory, minDisk, minAgent, provider, gzip, output, json,
        };
        cmd.SetAction((parse, ct) => BundleCliOutput.RunAsync(parse, parse.GetValue(json), async () =>
        {
            using var signingKey = BundleSigningKey.Load(parse.GetValue(key)!);
            var options = new BundleCreateOptions
            {
                Kind = Enum.Parse<BundleKind>(parse.GetValue(kind)!, ignoreCase: true),
                Name = parse.GetValue(name)!,
                Version = parse.GetValue(version)!,
                Licence = parse.GetValue(licence)!,
                ExecutionProviders = parse.GetValue(provider) ?? [],
                MinMemoryBytes = ParseSize(parse.GetValue(minMemory), "--min-memory") ?? 0,
                MinDiskBytes = ParseSize(parse.GetValue(minDisk), "--min-disk"),
                MinAgentVersion = parse.GetValue(minAgent),
                SmokeTest = parse.GetValue(smoke) is { } smokePath ? ReadSmokeTest(smokePath) : null,
                Gzip = parse.GetValue(gzip),
            };
            var path = Path.GetFullPath(parse.GetValue(output)!);
            var header = await WriteAtomicallyAsync(path, stream =>
                BundleWriter.CreateAsync(options, parse.GetValue(from)!, signingKey, stream, TimeProvider.System, ct)).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                BundleCliOutput.WriteHeaderJson(parse, header, ("path", path));
            }
            else
            {
                var m = header.Manifest;
                parse.InvocationConfiguration.Output.WriteLine(
                    $"wrote {path}: {m.Kind.ToString().ToLowerInvariant()} {m.Name} {m.Version}, {m.Files.Count} files, {m.TotalBytes:N0} bytes, signed by key {header.KeyId}");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command BuildInspect()
    {
        var file = new Argument<string>("FILE") { Description = "The .edgebundle file." };
        var json = CommonOptions.Json();
        var cmd = new Command("inspect", "Show a bundle's manifest and signing key id, without checking trust or the payload (use `bundle verify` for that).") { file, json };
        cmd.SetAction((parse, ct) => BundleCliOutput.RunAsync(parse, parse.GetValue(json), async () =>
        {
            var header = await BundleReader.InspectAsync(parse.GetValue(file)!, limits: null, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                BundleCliOutput.WriteHeaderJson(parse, header, ("verified", false));
            }
            else
            {
                parse.InvocationConfiguration.Output.Write(Describe(header));
                parse.InvocationConfiguration.Output.WriteLine("not verified: run `edgellm bundle verify FILE --trust PUB` to check the signature and every file");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command BuildVerify()
    {
        var file = new Argument<string>("FILE") { Description = "The .edgebundle file." };
        var trust = new Option<string[]>("--trust") { Description = "Trusted publisher public key (NAME.pub); repeat to trust several (key rotation).", Required = true };
        var json = CommonOptions.Json();
        var cmd = new Command("verify", "Check a bundle completely: signature by a trusted key, structure, every file's size and SHA-256. Exit 0 when valid, 1 with the reason.")
        {
            file, trust, json,
        };
        cmd.SetAction((parse, ct) => BundleCliOutput.RunAsync(parse, parse.GetValue(json), async () =>
        {
            using var trusted = BundleTrust.Load(parse.GetValue(trust)!);
            var verified = await new BundleReader(trusted).VerifyAsync(parse.GetValue(file)!, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                BundleCliOutput.WriteHeaderJson(parse, verified.Header, ("verified", true));
            }
            else
            {
                var m = verified.Manifest;
                parse.InvocationConfiguration.Output.WriteLine(
                    $"verified {m.Kind.ToString().ToLowerInvariant()} {m.Name} {m.Version}: {m.Files.Count} files, {m.TotalBytes:N0} bytes, signed by trusted key {verified.KeyId}");
            }

            return 0;
        }));
        return cmd;
    }

    private static string Describe(BundleHeader header)
    {
        var m = header.Manifest;
        var r = m.Runtime;
        var text = new StringBuilder();
        text.AppendLine($"{m.Kind.ToString().ToLowerInvariant()} {m.Name} {m.Version} (licence {m.Licence}), created {m.CreatedAt:u}");
        text.AppendLine($"signed by key {header.KeyId}; manifest sha256 {header.ManifestSha256}{(header.Compressed ? "; gzip" : "")}");
        text.AppendLine($"needs: providers {(r.ExecutionProviders.Count == 0 ? "any" : string.Join(", ", r.ExecutionProviders))}, "
            + $"memory {r.MinMemoryBytes:N0} bytes, disk {r.MinDiskBytes:N0} bytes, agent {r.MinAgentVersion ?? "any"}");
        if (m.SmokeTest is { } smoke)
        {
            text.AppendLine($"smoke test: {smoke.Prompts.Count} prompts, timeout {smoke.TimeoutSeconds} s"
                + (smoke.MinTokensPerS is { } floor ? $", at least {floor} tokens/s" : ""));
        }

        text.AppendLine($"{m.Files.Count} files, {m.TotalBytes:N0} bytes:");
        foreach (var f in m.Files)
        {
            text.AppendLine($"  {f.Sha256}  {f.Size,14:N0}  {f.Path}");
        }

        return text.ToString();
    }

    private static BundleSmokeTest ReadSmokeTest(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), BundleJsonContext.Default.BundleSmokeTest)
                ?? throw new ArgumentException($"--smoke '{path}' is null");
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"--smoke '{path}' is not a smoke test: {ex.Message}", ex);
        }
    }

    /// <summary>Bytes, or a number with K, M, G or T (binary multiples, optional "iB"/"B"); null when not given.</summary>
    internal static long? ParseSize(string? text, string option)
    {
        if (text is null)
        {
            return null;
        }

        var t = text.Trim();
        foreach (var unit in new[] { "iB", "B" })
        {
            if (t.Length > unit.Length && t.EndsWith(unit, StringComparison.OrdinalIgnoreCase))
            {
                t = t[..^unit.Length];
                break;
            }
        }

        var shift = t.Length == 0 ? 0 : char.ToUpperInvariant(t[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        if (shift > 0)
        {
            t = t[..^1];
        }

        return decimal.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n * (1L << shift) is var bytes && bytes <= long.MaxValue
            ? (long)bytes
            : throw new ArgumentException($"{option} '{text}' is not a size (bytes, or a number with K, M, G or T)");
    }

    /// <summary>Writes through a temporary file beside <paramref name="path"/>, so a failed or interrupted write leaves no half bundle.</summary>
    private static async Task<T> WriteAtomicallyAsync<T>(string path, Func<Stream, Task<T>> write)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.tmp-{Guid.NewGuid():N}";
        try
        {
            T result;
            var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
            await using (stream.ConfigureAwait(false))
            {
                result = await write(stream).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
            return result;
        }
        finally
        {
            File.Delete(temp);
        }
    }
}

/// <summary>
/// Output of the key and bundle commands, through the invocation's writers (so tests can run them in process); a refused
/// bundle prints its reason code and entry.
/// </summary>
internal static class BundleCliOutput
{
    public static Task<int> RunAsync(ParseResult parse, bool json, Func<Task<int>> body) => CliOutput.RunAsync(json, async () =>
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (BundleRejectedException ex)
        {
            return Error(parse, json, "bundle_rejected", $"bundle refused ({ex.Code}): {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException)
        {
            return Error(parse, json, ex is ArgumentException ? "invalid_argument" : "io", ex.Message, rejected: null);
        }
    });

    public static void WriteJson<T>(ParseResult parse, T value) =>
        parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(value, CliOutput.Json));

    /// <summary><c>{"key_id","manifest_sha256","compressed",extra…,"manifest":{…}}</c>.</summary>
    public static void WriteHeaderJson(ParseResult parse, BundleHeader header, params (string Name, object Value)[] extra)
    {
        parse.InvocationConfiguration.Output.WriteLine(Write(json =>
        {
            json.WriteString("key_id", header.KeyId);
            json.WriteString("manifest_sha256", header.ManifestSha256);
            json.WriteBoolean("compressed", header.Compressed);
            foreach (var (name, value) in extra)
            {
                json.WritePropertyName(name);
                JsonSerializer.Serialize(json, value, CliOutput.Json);
            }

            json.WritePropertyName("manifest");
            JsonSerializer.Serialize(json, header.Manifest, BundleJsonContext.Default.BundleManifest);
        }));
    }

    /// <summary>An import that did not activate: exit 1 with <c>{"error":{"code","state","reason","message"}}</c> in JSON.</summary>
    public static int Fail(ParseResult parse, bool json, string code, string message, string state, string? reason) =>
        Error(parse, json, code, message, rejected: null, (nameof(state), state), (nameof(reason), reason));

    private static int Error(ParseResult parse, bool json, string code, string message, BundleRejectedException? rejected, params (string Name, string? Value)[] extra)
    {
        var error = parse.InvocationConfiguration.Error;
        if (!json)
        {
            error.WriteLine($"edgellm: {message}");
            return CliOutput.UserError;
        }

        error.WriteLine(Write(w =>
        {
            w.WriteStartObject("error");
            w.WriteString("code", code);
            if (rejected is not null)
            {
                w.WriteString("reason", rejected.Code);
                w.WriteString("entry", rejected.Entry);
            }

            foreach (var (name, value) in extra)
            {
                w.WriteString(name, value);
            }

            w.WriteString("message", message);
            w.WriteEndObject();
        }));
        return CliOutput.UserError;
    }

    private static string Write(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = CliOutput.Json.Encoder }))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}

/// <summary>Prints each update step of an import (<c>verifying</c>, <c>unpacking</c>, …) as it starts; silent with --json.</summary>
internal sealed class StepWriter(TextWriter? output) : IActivationEvents
{
    public void Report(ActivationEvent e) => output?.WriteLine($"{e.Name} {e.Version}: {e.Text}");
}
