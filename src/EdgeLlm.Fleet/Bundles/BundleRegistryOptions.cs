using System.ComponentModel.DataAnnotations;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Fleet.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Bundles;

/// <summary>The bundle registry's settings, in the <c>Fleet</c> section beside <see cref="FleetOptions"/>.</summary>
internal sealed class BundleRegistryOptions
{
    /// <summary>
    /// The publisher public keys an uploaded bundle must be signed with: each a path to a SubjectPublicKeyInfo PEM file
    /// (<c>edgellm keys generate</c> writes one) or the PEM text itself. Several keys allow rotation. Default none: every
    /// upload is refused until one is set.
    /// </summary>
    public IList<string> TrustedPublisherKeys { get; init; } = [];

    /// <summary>
    /// Where artifacts live (<c>{dir}/{sha256}</c>, uploads in progress in <c>{dir}/.incoming/</c>). Default
    /// <c>{Fleet:DataDir}/artifacts</c>. With PostgreSQL, set it to a volume every server instance shares.
    /// </summary>
    public string? ArtifactsDir { get; set; }

    /// <summary>Largest bundle an operator may upload, in bytes. Default 16 GiB.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxBundleBytes { get; set; } = 16L * 1024 * 1024 * 1024;

    /// <summary>The artifacts folder, absolute.</summary>
    public string ResolveArtifactsDir(FleetOptions fleet) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(ArtifactsDir) ? Path.Combine(fleet.DataDir, "artifacts") : ArtifactsDir);

    /// <summary>A new trust holding every configured key (the caller disposes it). Throws <see cref="ArgumentException"/> naming a bad entry.</summary>
    public BundleTrust LoadTrust()
    {
        var trust = new BundleTrust();
        try
        {
            for (var i = 0; i < TrustedPublisherKeys.Count; i++)
            {
                var entry = TrustedPublisherKeys[i];
                var source = $"Fleet:TrustedPublisherKeys:{i}";
                if (entry.TrimStart().StartsWith("-----BEGIN", StringComparison.Ordinal))
                {
                    trust.Add(entry, source);
                }
                else if (File.Exists(entry))
                {
                    trust.Add(File.ReadAllText(entry), $"{source} ({entry})");
                }
                else
                {
                    throw new ArgumentException($"{source}: '{entry}' is neither a PEM public key nor an existing file");
                }
            }

            return trust;
        }
        catch
        {
            trust.Dispose();
            throw;
        }
    }
}

[OptionsValidator]
internal sealed partial class BundleRegistryOptionsValidator : IValidateOptions<BundleRegistryOptions>;

/// <summary>Every trusted key must load: a typo in a key path fails the start, not the first upload.</summary>
internal sealed class BundleTrustValidator : IValidateOptions<BundleRegistryOptions>
{
    public ValidateOptionsResult Validate(string? name, BundleRegistryOptions options)
    {
        try
        {
            options.LoadTrust().Dispose();
            return ValidateOptionsResult.Success;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
