namespace EdgeLlm.Contracts.Bundles;

/// <summary>
/// The <c>.edgebundle</c> layout, format version 1.
/// </summary>
/// <remarks>
/// <para>A bundle is a POSIX tar archive (PAX headers, as <see cref="System.Formats.Tar.TarWriter"/> writes them), optionally
/// gzip-compressed as a whole; readers tell the two apart by the gzip magic bytes <c>1f 8b</c>. Its entries, in this order:</para>
/// <list type="number">
/// <item><c>manifest.json</c>: the <see cref="BundleManifest"/> as UTF-8 JSON, at most <see cref="BundleLimits.MaxManifestBytes"/>.</item>
/// <item><c>manifest.sig</c>: a <see cref="BundleSignature"/>, the detached signature over the exact bytes of <c>manifest.json</c>.</item>
/// <item><c>payload/&lt;path&gt;</c> for every file the manifest lists, as regular files, in any order.</item>
/// </list>
/// <para>Then the tar end-of-archive marker (two zero blocks); trailing bytes after it must be zero (tar record padding).
/// Directory entries under <c>payload/</c> are tolerated and ignored; every other entry type (links, devices, FIFOs, global
/// PAX headers, sparse files) is refused. The manifest comes first so a device checks the signature before it reads a byte
/// of payload, then checks each file's size from its header and its SHA-256 while streaming it to staging.</para>
/// </remarks>
public static class BundleFormat
{
    /// <summary>The only <see cref="BundleManifest.FormatVersion"/> this code reads and writes.</summary>
    public const int Version = 1;

    /// <summary>The file extension, with its dot.</summary>
    public const string Extension = ".edgebundle";

    public const string ManifestEntry = "manifest.json";

    public const string SignatureEntry = "manifest.sig";

    /// <summary>Prefix of every payload entry; a manifest path <c>a/b.onnx</c> is the entry <c>payload/a/b.onnx</c>.</summary>
    public const string PayloadPrefix = "payload/";
}
