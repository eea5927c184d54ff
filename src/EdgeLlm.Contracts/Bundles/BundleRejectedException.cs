namespace EdgeLlm.Contracts.Bundles;

/// <summary>Why a bundle was refused. <see cref="BundleRejectedException.Code"/> gives the snake_case form for events.</summary>
public enum BundleRejectReason
{
    /// <summary>Not a tar (or gzip of a tar), a corrupt header, or data after the end-of-archive marker.</summary>
    Malformed,

    /// <summary>The archive ends early: inside a header, inside a file, or before the end-of-archive marker.</summary>
    Truncated,

    /// <summary>The first entry is not the regular file <c>manifest.json</c>.</summary>
    ManifestMissing,

    /// <summary>The second entry is not the regular file <c>manifest.sig</c>.</summary>
    SignatureMissing,

    /// <summary><c>manifest.json</c> is over <see cref="BundleLimits.MaxManifestBytes"/>.</summary>
    ManifestTooLarge,

    /// <summary><c>manifest.json</c> is not valid JSON for a <see cref="BundleManifest"/>, or a value is out of range.</summary>
    ManifestInvalid,

    /// <summary><see cref="BundleManifest.FormatVersion"/> is not <see cref="BundleFormat.Version"/>.</summary>
    UnsupportedFormatVersion,

    /// <summary>The name or version cannot be a folder name.</summary>
    UnsafeName,

    /// <summary>A manifest path or entry name is absolute, climbs with '..', or has an empty segment, '\' or a control character.</summary>
    UnsafePath,

    /// <summary>The manifest lists a path twice (also when only the letter case differs), or a path is both a file and a folder.</summary>
    DuplicatePath,

    /// <summary>The signature does not match <c>manifest.json</c> (changed after signing), or <c>manifest.sig</c> is malformed.</summary>
    BadSignature,

    /// <summary>The signing key is not one of the trusted keys.</summary>
    UnknownKey,

    /// <summary>A payload file's SHA-256 differs from the manifest.</summary>
    HashMismatch,

    /// <summary>A payload file's size differs from the manifest.</summary>
    SizeMismatch,

    /// <summary>A symbolic or hard link entry.</summary>
    LinkEntry,

    /// <summary>A character or block device or a FIFO entry.</summary>
    SpecialEntry,

    /// <summary>Any other entry type (global PAX header, sparse or contiguous file, GNU extensions).</summary>
    UnsupportedEntry,

    /// <summary>An entry the manifest does not list.</summary>
    ExtraEntry,

    /// <summary>The same entry appears twice in the archive.</summary>
    DuplicateEntry,

    /// <summary>A file the manifest lists is not in the archive.</summary>
    MissingFile,

    /// <summary>The declared sizes or file count are over <see cref="BundleLimits"/>, or a plain archive is longer than declared.</summary>
    TooLarge,

    /// <summary>Gzip data decompresses to more than the manifest declares (plus <see cref="BundleLimits.SlackBytes"/>).</summary>
    DecompressionBomb,
}

/// <summary>
/// A bundle was refused. Nothing was written outside the staging folder, and the staging folder was left as the reader found it.
/// </summary>
public sealed class BundleRejectedException : Exception
{
    public BundleRejectedException()
        : this(BundleRejectReason.Malformed, "the bundle was refused")
    {
    }

    public BundleRejectedException(string message)
        : this(BundleRejectReason.Malformed, message)
    {
    }

    public BundleRejectedException(string message, Exception innerException)
        : this(BundleRejectReason.Malformed, message, entry: null, innerException)
    {
    }

    public BundleRejectedException(BundleRejectReason reason, string message, string? entry = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
        Entry = entry;
    }

    public BundleRejectReason Reason { get; }

    /// <summary>The archive entry (or manifest path) at fault, when there is one.</summary>
    public string? Entry { get; }

    /// <summary>The reason as snake_case (<c>hash_mismatch</c>, <c>unknown_key</c>, …), for events and JSON output.</summary>
    public string Code => CodeOf(Reason);

    public static string CodeOf(BundleRejectReason reason)
    {
        var name = reason.ToString();
        var code = new System.Text.StringBuilder(name.Length + 4);
        foreach (var c in name)
        {
            if (char.IsUpper(c) && code.Length > 0)
            {
                code.Append('_');
            }

            code.Append(char.ToLowerInvariant(c));
        }

        return code.ToString();
    }
}
