using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace EdgeLlm.Fleet.Auth;

/// <summary>The fleet's secrets: prefix + base64url(random bytes); the server keeps only their SHA-256.</summary>
internal static class Secrets
{
    public const string DeviceCredentialPrefix = "edc_";
    public const string AdminKeyPrefix = "eak_";
    public const string EnrollmentTokenPrefix = "eet_";

    /// <summary>Longest secret worth hashing; anything longer is not one of ours.</summary>
    public const int MaxLength = 256;

    public static string NewDeviceCredential() => DeviceCredentialPrefix + Random(32);

    public static string NewAdminKey() => AdminKeyPrefix + Random(32);

    public static string NewEnrollmentToken() => EnrollmentTokenPrefix + Random(24);

    /// <summary>A short public id such as <c>tok_3f9a…</c> (not a secret).</summary>
    public static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>SHA-256 of the UTF-8 bytes, lower-case hex.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>True for <c>eak_</c> followed by base64url carrying at least 32 bytes (256 bits) of randomness.</summary>
    public static bool IsStrongAdminKey(string key)
    {
        if (!key.StartsWith(AdminKeyPrefix, StringComparison.Ordinal) || key.Length > MaxLength)
        {
            return false;
        }

        var body = key[AdminKeyPrefix.Length..];
        if (body.Length < 43 || !Base64Url.IsValid(body, out var decodedLength) || decodedLength < 32)
        {
            return false;
        }

        // A key of one repeated character decodes to 32 bytes but has no entropy.
        return body.Distinct().Count() >= 16;
    }

    private static string Random(int bytes) => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(bytes));
}
