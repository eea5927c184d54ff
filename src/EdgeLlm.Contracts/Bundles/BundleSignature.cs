namespace EdgeLlm.Contracts.Bundles;

/// <summary>
/// <c>manifest.sig</c>: <c>{"format_version":1,"algorithm":"ecdsa-p256-sha256","key_id":"…","signature":"…"}</c>.
/// </summary>
/// <remarks>
/// The signature is ECDSA over NIST P-256 with SHA-256 of the exact bytes of <c>manifest.json</c>, encoded as IEEE P1363
/// (<c>r || s</c>, 64 bytes) in base64. <see cref="KeyId"/> (see <see cref="BundleKeys.KeyIdOf"/>) only picks the trusted
/// key to verify with; it is not itself trusted.
/// </remarks>
public sealed record BundleSignature
{
    public const string EcdsaP256Sha256 = "ecdsa-p256-sha256";

    /// <summary>Always 1.</summary>
    public required int FormatVersion { get; init; }

    /// <summary>Always <see cref="EcdsaP256Sha256"/>.</summary>
    public required string Algorithm { get; init; }

    /// <summary>16 lowercase hex digits.</summary>
    public required string KeyId { get; init; }

    /// <summary>Base64 of the 64-byte IEEE P1363 signature.</summary>
    public required string Signature { get; init; }
}
