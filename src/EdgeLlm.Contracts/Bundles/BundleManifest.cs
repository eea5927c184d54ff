using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Bundles;

/// <summary>
/// What a bundle holds and needs: <c>manifest.json</c>, the first entry of an <c>.edgebundle</c>. Read strictly: every property
/// below is required unless it says otherwise, unknown properties are refused, and <see cref="BundleReader"/> validates the
/// values (see <see cref="BundleLimits"/>) before it trusts a path.
/// </summary>
public sealed record BundleManifest
{
    /// <summary>Always <see cref="BundleFormat.Version"/> (1); another value is refused as unsupported.</summary>
    public required int FormatVersion { get; init; }

    public required BundleKind Kind { get; init; }

    /// <summary>1 to 64 characters of letters, digits, '.', '_', '-', starting with a letter or digit (it becomes a folder name).</summary>
    public required string Name { get; init; }

    /// <summary>Semantic version <c>MAJOR.MINOR.PATCH[-pre][+build]</c>, at most 64 characters (it becomes a folder name).</summary>
    public required string Version { get; init; }

    /// <summary>Licence of the payload (an SPDX id or free text), 1 to 256 characters.</summary>
    public required string Licence { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public required BundleRuntimeNeeds Runtime { get; init; }

    /// <summary>Every payload file, each once; paths compare case-insensitively for duplicates (FAT USB sticks fold case).</summary>
    public required IReadOnlyList<BundleFile> Files { get; init; }

    /// <summary>How a device checks the payload before it activates it; null for kinds that have nothing to run (manuals, config).</summary>
    public required BundleSmokeTest? SmokeTest { get; init; }

    /// <summary>Sum of <see cref="BundleFile.Size"/>.</summary>
    [JsonIgnore]
    public long TotalBytes => Files.Sum(f => f.Size);
}

/// <summary>What a bundle carries. Serialized as <c>model</c>, <c>adapter</c>, <c>manuals</c>, <c>config</c>.</summary>
[JsonConverter(typeof(BundleKindConverter))]
public enum BundleKind
{
    [JsonStringEnumMemberName("model")]
    Model,

    [JsonStringEnumMemberName("adapter")]
    Adapter,

    [JsonStringEnumMemberName("manuals")]
    Manuals,

    [JsonStringEnumMemberName("config")]
    Config,
}

/// <summary>Names only: a number where a kind belongs is malformed, not "kind 2".</summary>
internal sealed class BundleKindConverter() : JsonStringEnumConverter<BundleKind>(namingPolicy: null, allowIntegerValues: false);

/// <summary>What the device must offer before it installs the bundle.</summary>
public sealed record BundleRuntimeNeeds
{
    /// <summary>Execution providers the payload can run on (<c>cpu</c>, <c>qnn</c>, …); empty means any.</summary>
    public required IReadOnlyList<string> ExecutionProviders { get; init; }

    /// <summary>Free memory the payload needs once loaded, in bytes; 0 = no requirement.</summary>
    public required long MinMemoryBytes { get; init; }

    /// <summary>Free disk the unpacked payload needs, in bytes (the writer defaults it to the payload's total size).</summary>
    public required long MinDiskBytes { get; init; }

    /// <summary>Oldest agent version that can use the bundle (semantic version), or null for any.</summary>
    public required string? MinAgentVersion { get; init; }
}

/// <summary>One payload file.</summary>
public sealed record BundleFile
{
    /// <summary>Relative path with '/' separators: no leading '/', no '\', ':' or control characters, no empty, '.' or '..' segment.</summary>
    public required string Path { get; init; }

    /// <summary>Exact size in bytes.</summary>
    public required long Size { get; init; }

    /// <summary>SHA-256 of the content, 64 lowercase hex digits.</summary>
    public required string Sha256 { get; init; }
}

/// <summary>The check a device runs on the new payload in a second session before it switches to it.</summary>
public sealed record BundleSmokeTest
{
    /// <summary>1 to 32 prompts.</summary>
    public required IReadOnlyList<BundleSmokePrompt> Prompts { get; init; }

    /// <summary>Slowest acceptable generation speed; null = no floor.</summary>
    public double? MinTokensPerS { get; set; }

    /// <summary>Limit for the whole smoke test, 1 to 3600 seconds.</summary>
    public required int TimeoutSeconds { get; init; }
}

public sealed record BundleSmokePrompt
{
    /// <summary>1 to 8192 characters.</summary>
    public required string Prompt { get; init; }

    /// <summary>1 to 4096.</summary>
    public required int MaxTokens { get; init; }

    /// <summary>Substrings the answer must contain (case-sensitive); null or empty = any non-empty answer.</summary>
    public IReadOnlyList<string>? ExpectSubstrings { get; set; }
}
