namespace EdgeLlm.Contracts.Fleet;

/// <summary>
/// The bundle registry's routes (under <see cref="FleetRoutes.Prefix"/>). Operators upload signed <c>.edgebundle</c> files,
/// list them and point channels at versions; devices (and operators) download artifacts by SHA-256 with HTTP Range.
/// </summary>
public static class BundleRoutes
{
    /// <summary>
    /// POST the raw bundle (<c>Content-Type: application/octet-stream</c>) → 201 <see cref="BundleInfo"/>, or 200 when the
    /// same bytes are already registered (operator); 400 not a bundle or refused by verification; 409 the name and version
    /// exist with other bytes; 413 over the size cap. GET → <see cref="BundleSummary"/>[] (viewer).
    /// </summary>
    public const string Bundles = FleetRoutes.Prefix + "/bundles";

    /// <summary>GET <c>/bundles/{name}</c> → <see cref="BundleInfo"/>[], every version, newest upload first (viewer).</summary>
    public static string Bundle(string name) => $"{Bundles}/{Uri.EscapeDataString(name)}";

    /// <summary>PUT <c>/bundles/{name}/channels/{channel}</c> <see cref="ChannelUpdate"/> → 200 <see cref="ChannelAssignment"/> (operator).</summary>
    public static string Channel(string name, string channel) => $"{Bundle(name)}/channels/{Uri.EscapeDataString(channel)}";

    /// <summary>
    /// GET <c>/artifacts/{sha256}</c> → the bundle's bytes (device credential or viewer). One byte range per request
    /// (<c>Range: bytes=A-B</c>, <c>A-</c> or <c>-N</c>) → 206 with <c>Content-Range</c>; an unsatisfiable range → 416 with
    /// <c>Content-Range: bytes */SIZE</c>. <c>ETag</c> is the quoted SHA-256, <c>Accept-Ranges: bytes</c>; 404 when unknown.
    /// </summary>
    public static string Artifact(string sha256) => $"{Artifacts}/{Uri.EscapeDataString(sha256)}";

    /// <summary>The folder of <see cref="Artifact"/>.</summary>
    public const string Artifacts = FleetRoutes.Prefix + "/artifacts";
}

/// <summary>The channels a bundle version can be assigned to.</summary>
public static class BundleChannels
{
    public const string Stable = "stable";

    public const string Beta = "beta";

    public static IReadOnlyList<string> All { get; } = [Stable, Beta];

    public static bool IsKnown(string channel) => channel is Stable or Beta;
}
