using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace EdgeLlm.Contracts.Bundles;

/// <summary>Parses and checks a manifest before any of its paths or sizes is used.</summary>
internal static partial class ManifestValidator
{
    private const int MaxPrompts = 32;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex SafeName();

    [GeneratedRegex(@"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")]
    private static partial Regex SemVer();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,31}$")]
    private static partial Regex ProviderName();

    public static bool IsSafeName(string name) => SafeName().IsMatch(name);

    public static bool IsVersion(string version) => version.Length <= 64 && SemVer().IsMatch(version);

    /// <summary>Reads <c>format_version</c> first, so a newer format is reported as such rather than as unknown properties.</summary>
    public static BundleManifest Parse(ReadOnlySpan<byte> json, BundleLimits limits)
    {
        var version = ReadFormatVersion(json);
        if (version != BundleFormat.Version)
        {
            throw Reject(BundleRejectReason.UnsupportedFormatVersion,
                $"format_version {version} is not supported (this agent reads {BundleFormat.Version})");
        }

        BundleManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(json, BundleJsonContext.Default.BundleManifest)
                ?? throw Reject(BundleRejectReason.ManifestInvalid, "manifest.json is null");
        }
        catch (JsonException ex)
        {
            throw new BundleRejectedException(BundleRejectReason.ManifestInvalid, $"manifest.json is not a valid manifest: {ex.Message}", BundleFormat.ManifestEntry, ex);
        }

        Validate(manifest, limits);
        return manifest;
    }

    public static void Validate(BundleManifest manifest, BundleLimits limits)
    {
        if (!IsSafeName(manifest.Name))
        {
            throw Reject(BundleRejectReason.UnsafeName, $"name '{manifest.Name}' is not 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit");
        }

        if (!IsVersion(manifest.Version))
        {
            throw Reject(BundleRejectReason.UnsafeName, $"version '{manifest.Version}' is not a semantic version MAJOR.MINOR.PATCH[-pre][+build]");
        }

        Check(manifest.Licence.Length is > 0 and <= 256 && !manifest.Licence.Any(char.IsControl), "licence must be 1-256 characters without control characters");
        ValidateRuntime(manifest.Runtime);
        if (manifest.SmokeTest is { } smoke)
        {
            ValidateSmokeTest(smoke);
        }

        ValidateFiles(manifest.Files, limits);
    }

    public static void ValidateSmokeTest(BundleSmokeTest smoke)
    {
        Check(smoke.Prompts.Count is > 0 and <= MaxPrompts, $"smoke_test.prompts must hold 1 to {MaxPrompts} prompts");
        Check(smoke.TimeoutSeconds is > 0 and <= 3600, "smoke_test.timeout_seconds must be 1 to 3600");
        Check(smoke.MinTokensPerS is null or (> 0 and < 1e6), "smoke_test.min_tokens_per_s must be positive");
        foreach (var p in smoke.Prompts)
        {
            Check(p.Prompt.Length is > 0 and <= 8192, "a smoke_test prompt must be 1 to 8192 characters");
            Check(p.MaxTokens is > 0 and <= 4096, "smoke_test max_tokens must be 1 to 4096");
            Check(p.ExpectSubstrings is null || p.ExpectSubstrings.All(s => s.Length > 0), "smoke_test expect_substrings must not be empty strings");
        }
    }

    /// <summary>Why <paramref name="path"/> is not a safe relative payload path, or null when it is.</summary>
    public static string? PathProblem(string path, int maxBytes)
    {
        if (path.Length == 0)
        {
            return "is empty";
        }

        if (Encoding.UTF8.GetByteCount(path) > maxBytes)
        {
            return $"is longer than {maxBytes} bytes";
        }

        if (path[0] == '/')
        {
            return "is absolute";
        }

        foreach (var c in path)
        {
            if (c == '\\')
            {
                return "has a backslash";
            }

            if (c == ':')
            {
                return "has a ':' (drive letter or stream)";
            }

            if (char.IsControl(c))
            {
                return "has a control character";
            }
        }

        foreach (var segment in path.Split('/'))
        {
            switch (segment)
            {
                case "":
                    return "has an empty segment";
                case ".":
                    return "has a '.' segment";
                case "..":
                    return "has a '..' segment";
            }
        }

        return null;
    }

    private static void ValidateRuntime(BundleRuntimeNeeds runtime)
    {
        Check(runtime.ExecutionProviders.Count <= 16 && runtime.ExecutionProviders.All(p => ProviderName().IsMatch(p)),
            "runtime.execution_providers must be at most 16 lowercase names");
        Check(runtime.MinMemoryBytes >= 0 && runtime.MinDiskBytes >= 0, "runtime.min_memory_bytes and min_disk_bytes must not be negative");
        Check(runtime.MinAgentVersion is null || IsVersion(runtime.MinAgentVersion), "runtime.min_agent_version must be a semantic version");
    }

    private static void ValidateFiles(IReadOnlyList<BundleFile> files, BundleLimits limits)
    {
        if (files.Count > limits.MaxFiles)
        {
            throw Reject(BundleRejectReason.TooLarge, $"the manifest lists {files.Count} files (limit {limits.MaxFiles})");
        }

        var exact = new HashSet<string>(StringComparer.Ordinal);
        var folded = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        long total = 0;
        foreach (var file in files)
        {
            if (PathProblem(file.Path, limits.MaxPathBytes) is { } problem)
            {
                throw new BundleRejectedException(BundleRejectReason.UnsafePath, $"manifest path '{file.Path}' {problem}", file.Path);
            }

            if (!exact.Add(file.Path))
            {
                throw new BundleRejectedException(BundleRejectReason.DuplicatePath, $"the manifest lists '{file.Path}' twice", file.Path);
            }

            if (!folded.TryAdd(file.Path, file.Path))
            {
                throw new BundleRejectedException(BundleRejectReason.DuplicatePath,
                    $"the manifest lists '{file.Path}' and '{folded[file.Path]}', which differ only in letter case", file.Path);
            }

            if (!Sha256Hex().IsMatch(file.Sha256))
            {
                throw new BundleRejectedException(BundleRejectReason.ManifestInvalid, $"sha256 of '{file.Path}' is not 64 lowercase hex digits", file.Path);
            }

            if (file.Size < 0)
            {
                throw new BundleRejectedException(BundleRejectReason.ManifestInvalid, $"size of '{file.Path}' is negative", file.Path);
            }

            if (file.Size > limits.MaxTotalBytes - total)
            {
                throw new BundleRejectedException(BundleRejectReason.TooLarge,
                    $"the declared sizes pass the limit of {limits.MaxTotalBytes} bytes at '{file.Path}'", file.Path);
            }

            total += file.Size;
        }

        // "a" and "a/b" cannot both be unpacked: one would have to be a file and a folder.
        foreach (var file in files)
        {
            for (var slash = file.Path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = file.Path.IndexOf('/', slash + 1))
            {
                if (folded.ContainsKey(file.Path[..slash]))
                {
                    throw new BundleRejectedException(BundleRejectReason.DuplicatePath,
                        $"'{file.Path[..slash]}' is listed as a file and is also the folder of '{file.Path}'", file.Path);
                }
            }
        }
    }

    private static int ReadFormatVersion(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Reject(BundleRejectReason.ManifestInvalid, "manifest.json is not a JSON object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("format_version"u8))
                {
                    reader.Read();
                    return reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var v)
                        ? v
                        : throw Reject(BundleRejectReason.ManifestInvalid, "format_version is not an integer");
                }

                reader.Read();
                reader.Skip();
            }

            throw Reject(BundleRejectReason.ManifestInvalid, "manifest.json has no format_version");
        }
        catch (JsonException ex)
        {
            throw new BundleRejectedException(BundleRejectReason.ManifestInvalid, $"manifest.json is not valid JSON: {ex.Message}", BundleFormat.ManifestEntry, ex);
        }
    }

    private static void Check(bool ok, string problem)
    {
        if (!ok)
        {
            throw Reject(BundleRejectReason.ManifestInvalid, problem);
        }
    }

    private static BundleRejectedException Reject(BundleRejectReason reason, string message) => new(reason, message, BundleFormat.ManifestEntry);
}
