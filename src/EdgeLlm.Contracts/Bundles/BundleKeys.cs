using System.Security.Cryptography;

namespace EdgeLlm.Contracts.Bundles;

/// <summary>Key ids and the P-256 check shared by signing and trust.</summary>
public static class BundleKeys
{
    private const string P256Oid = "1.2.840.10045.3.1.7";

    /// <summary>The first 16 lowercase hex digits of the SHA-256 of the key's SubjectPublicKeyInfo (DER).</summary>
    public static string KeyIdOf(ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];
    }

    internal static ECDsa ImportP256(string pem, string source, bool requirePrivate)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            var parameters = key.ExportParameters(includePrivateParameters: false);
            if (parameters.Curve.Oid?.Value != P256Oid)
            {
                throw new ArgumentException($"{source}: not a NIST P-256 key (bundles are signed with ECDSA P-256)");
            }

            if (requirePrivate)
            {
                // Throws when the PEM held only a public key.
                _ = key.ExportECPrivateKey();
            }

            return key;
        }
        catch (CryptographicException ex)
        {
            key.Dispose();
            throw new ArgumentException($"{source}: not a {(requirePrivate ? "PKCS#8 private" : "SubjectPublicKeyInfo public")} EC key in PEM ({ex.Message})", ex);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}

/// <summary>A publisher's private key: ECDSA P-256, stored as PKCS#8 PEM.</summary>
public sealed class BundleSigningKey : IDisposable
{
    private readonly ECDsa _key;

    private BundleSigningKey(ECDsa key)
    {
        _key = key;
        KeyId = BundleKeys.KeyIdOf(key);
    }

    public string KeyId { get; }

    public static BundleSigningKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <param name="pem">PKCS#8 (<c>PRIVATE KEY</c>) or SEC1 (<c>EC PRIVATE KEY</c>) PEM.</param>
    /// <param name="source">Names the key in errors (a file name).</param>
    public static BundleSigningKey FromPem(string pem, string source = "key") => new(BundleKeys.ImportP256(pem, source, requirePrivate: true));

    public static BundleSigningKey Load(string path) => FromPem(File.ReadAllText(path), path);

    /// <summary>PKCS#8 <c>PRIVATE KEY</c> PEM.</summary>
    public string ExportPrivateKeyPem() => _key.ExportPkcs8PrivateKeyPem();

    /// <summary>SubjectPublicKeyInfo <c>PUBLIC KEY</c> PEM: what devices trust.</summary>
    public string ExportPublicKeyPem() => _key.ExportSubjectPublicKeyInfoPem();

    /// <summary>Signs <paramref name="manifest"/> (the exact bytes of <c>manifest.json</c>).</summary>
    public BundleSignature Sign(ReadOnlySpan<byte> manifest) => new()
    {
        FormatVersion = BundleFormat.Version,
        Algorithm = BundleSignature.EcdsaP256Sha256,
        KeyId = KeyId,
        Signature = Convert.ToBase64String(_key.SignData(manifest, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)),
    };

    public void Dispose() => _key.Dispose();
}

/// <summary>
/// The publisher public keys a device or server accepts. Trust several to rotate keys: bundles signed by the old and the
/// new key both verify while the fleet moves over.
/// </summary>
public sealed class BundleTrust : IDisposable
{
    private readonly Dictionary<string, ECDsa> _keys = new(StringComparer.Ordinal);

    /// <summary>Ids of the trusted keys, sorted.</summary>
    public IReadOnlyList<string> KeyIds => [.. _keys.Keys.Order(StringComparer.Ordinal)];

    /// <summary>Trusts every SubjectPublicKeyInfo PEM file in <paramref name="paths"/>.</summary>
    public static BundleTrust Load(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var trust = new BundleTrust();
        try
        {
            foreach (var path in paths)
            {
                trust.Add(File.ReadAllText(path), path);
            }

            return trust;
        }
        catch
        {
            trust.Dispose();
            throw;
        }
    }

    /// <summary>Trusts a <c>PUBLIC KEY</c> PEM and returns its key id. Adding a key twice is harmless.</summary>
    public string Add(string publicKeyPem, string source = "public key")
    {
        var key = BundleKeys.ImportP256(publicKeyPem, source, requirePrivate: false);
        var id = BundleKeys.KeyIdOf(key);
        if (!_keys.TryAdd(id, key))
        {
            key.Dispose();
        }

        return id;
    }

    /// <summary>Throws <see cref="BundleRejectedException"/> unless <paramref name="signature"/> is a valid signature over
    /// <paramref name="manifest"/> by a trusted key.</summary>
    internal void Verify(ReadOnlySpan<byte> manifest, BundleSignature signature)
    {
        if (!_keys.TryGetValue(signature.KeyId, out var key))
        {
            var trusted = _keys.Count == 0 ? "no key is trusted" : "trusted: " + string.Join(", ", KeyIds);
            throw new BundleRejectedException(BundleRejectReason.UnknownKey,
                $"signed by unknown key {signature.KeyId} ({trusted})", BundleFormat.SignatureEntry);
        }

        var bytes = new byte[64];
        if (!Convert.TryFromBase64String(signature.Signature, bytes, out var written) || written != 64
            || !key.VerifyData(manifest, bytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            throw new BundleRejectedException(BundleRejectReason.BadSignature,
                $"the signature by key {signature.KeyId} does not match {BundleFormat.ManifestEntry} (changed after signing?)", BundleFormat.ManifestEntry);
        }
    }

    public void Dispose()
    {
        foreach (var key in _keys.Values)
        {
            key.Dispose();
        }

        _keys.Clear();
    }
}
