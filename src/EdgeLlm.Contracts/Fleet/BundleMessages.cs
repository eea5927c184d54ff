namespace EdgeLlm.Contracts.Fleet;

/// <summary>One registered bundle version: what its verified manifest says and where its bytes are.</summary>
public sealed record BundleInfo
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    /// <summary><c>model</c>, <c>adapter</c>, <c>manuals</c> or <c>config</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>SHA-256 of the whole <c>.edgebundle</c> file, computed by the server: the artifact's address.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Size of the <c>.edgebundle</c> file in bytes.</summary>
    public long Size { get; init; }

    /// <summary>The id of the publisher key that signed it.</summary>
    public required string KeyId { get; init; }

    public DateTimeOffset UploadedAt { get; init; }

    /// <summary>The API key's name that uploaded it.</summary>
    public required string UploadedBy { get; init; }

    /// <summary>Channels now pointing at this version.</summary>
    public IReadOnlyList<string> Channels { get; set; } = [];
}

/// <summary>One bundle name in the registry list.</summary>
public sealed record BundleSummary
{
    public required string Name { get; init; }

    public required string Kind { get; init; }

    /// <summary>Versions registered.</summary>
    public int Versions { get; init; }

    /// <summary>The most recently uploaded version.</summary>
    public required BundleInfo Latest { get; init; }

    public IReadOnlyList<ChannelAssignment> Channels { get; set; } = [];
}

/// <summary>A channel of a bundle name and the version it points at.</summary>
public sealed record ChannelAssignment
{
    public required string Name { get; init; }

    /// <summary>One of <see cref="BundleChannels"/>.</summary>
    public required string Channel { get; init; }

    public required string Version { get; init; }

    public required string Sha256 { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    public required string UpdatedBy { get; init; }
}

/// <summary>PUT <c>/bundles/{name}/channels/{channel}</c>: the version the channel points at from now on.</summary>
public sealed record ChannelUpdate
{
    public required string Version { get; init; }
}
