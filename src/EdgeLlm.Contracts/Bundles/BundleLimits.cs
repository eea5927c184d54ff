namespace EdgeLlm.Contracts.Bundles;

/// <summary>Caps a reader enforces before it allocates, writes or decompresses. The defaults suit a device; a server may raise them.</summary>
public sealed record BundleLimits
{
    public static readonly BundleLimits Default = new();

    /// <summary>Largest <c>manifest.json</c>; default 1 MiB.</summary>
    public int MaxManifestBytes { get; init; } = 1024 * 1024;

    /// <summary>Largest <c>manifest.sig</c>; default 4 KiB.</summary>
    public int MaxSignatureBytes { get; init; } = 4096;

    /// <summary>Most payload files; default 10,000.</summary>
    public int MaxFiles { get; init; } = 10_000;

    /// <summary>Largest sum of the declared file sizes; default 64 GiB.</summary>
    public long MaxTotalBytes { get; init; } = 64L * 1024 * 1024 * 1024;

    /// <summary>Longest payload path in UTF-8 bytes; default 1024.</summary>
    public int MaxPathBytes { get; init; } = 1024;

    /// <summary>
    /// Tar bytes allowed beyond the declared payload and per-entry headers (<see cref="PerEntryOverheadBytes"/> each) before
    /// reading stops as a decompression bomb (gzip) or an oversized archive (plain); default 64 KiB.
    /// </summary>
    public int SlackBytes { get; init; } = 64 * 1024;

    /// <summary>Header and padding bytes allowed per payload entry (ustar header, PAX header with a long path, block padding); default 4 KiB.</summary>
    public int PerEntryOverheadBytes { get; init; } = 4096;
}
