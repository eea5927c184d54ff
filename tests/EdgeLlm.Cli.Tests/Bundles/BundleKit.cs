using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Cli.Tests.Bundles;

/// <summary>
/// A temp folder with a payload source, real keys and a parent folder that holds only the staging folder, so a test can
/// prove a refusal wrote nothing, inside staging or out.
/// </summary>
internal sealed class BundleKit : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public BundleKit()
    {
        Directory.CreateDirectory(Source);
        Directory.CreateDirectory(Parent);
        File.WriteAllText(Path.Combine(Source, "genai_config.json"), """{"model":{"type":"qwen2"}}""");
        Directory.CreateDirectory(Path.Combine(Source, "weights"));
        File.WriteAllBytes(Path.Combine(Source, "weights", "model.onnx"), RandomBytes(200_000, seed: 7));
        File.WriteAllBytes(Path.Combine(Source, "empty.txt"), []);
    }

    public string Root => _dir.Path;

    public string Source => Path.Combine(Root, "src");

    /// <summary>Holds nothing but <see cref="Staging"/>: anything else in it escaped.</summary>
    public string Parent => Path.Combine(Root, "parent");

    public string Staging => Path.Combine(Parent, "staging");

    public BundleSigningKey Key { get; } = BundleSigningKey.Generate();

    public BundleSigningKey OtherKey { get; } = BundleSigningKey.Generate();

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public BundleTrust Trust(params BundleSigningKey[] keys)
    {
        var trust = new BundleTrust();
        foreach (var key in keys.Length == 0 ? [Key] : keys)
        {
            trust.Add(key.ExportPublicKeyPem());
        }

        return trust;
    }

    public async Task<byte[]> CreateAsync(bool gzip = false, BundleSigningKey? key = null, BundleSmokeTest? smoke = null)
    {
        using var output = new MemoryStream();
        var options = new BundleCreateOptions
        {
            Kind = BundleKind.Model, Name = "qwen-tiny", Version = "1.2.0", Licence = "Apache-2.0",
            ExecutionProviders = ["cpu"], MinMemoryBytes = 1 << 20, Gzip = gzip, SmokeTest = smoke,
        };
        await BundleWriter.CreateAsync(options, Source, key ?? Key, output, TimeProvider.System, CancellationToken.None);
        return output.ToArray();
    }

    public async Task<VerifiedBundle> UnpackAsync(byte[] bundle, BundleLimits? limits = null, params BundleSigningKey[] trusted)
    {
        using var trust = Trust(trusted);
        using var stream = new MemoryStream(bundle);
        return await new BundleReader(trust, limits).UnpackAsync(stream, Staging, CancellationToken.None);
    }

    /// <summary>
    /// Unpacks twice, into a missing and into an existing empty staging folder; both must refuse with
    /// <paramref name="reason"/> and leave the parent folder exactly as it was.
    /// </summary>
    public async Task<BundleRejectedException> AssertRefusedAsync(byte[] bundle, BundleRejectReason reason, BundleLimits? limits = null)
    {
        var missing = await Assert.ThrowsAsync<BundleRejectedException>(() => UnpackAsync(bundle, limits));
        Assert.True(reason == missing.Reason, $"expected {reason}, got {missing.Reason}: {missing.Message}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Parent, "*", SearchOption.AllDirectories));

        Directory.CreateDirectory(Staging);
        var existing = await Assert.ThrowsAsync<BundleRejectedException>(() => UnpackAsync(bundle, limits));
        Assert.Equal(reason, existing.Reason);
        Assert.Equal([Staging], Directory.EnumerateFileSystemEntries(Parent, "*", SearchOption.AllDirectories));
        Directory.Delete(Staging);
        return missing;
    }

    public void Dispose()
    {
        Key.Dispose();
        OtherKey.Dispose();
        _dir.Dispose();
    }
}

/// <summary>Writes bundles by hand with <see cref="TarWriter"/>: any manifest, any entries, in any order.</summary>
internal sealed class HostileBundle(BundleSigningKey key)
{
    private readonly List<(string Name, TarEntryType Type, byte[] Data, string? Link)> _entries = [];

    public List<BundleFile> Files { get; } = [];

    public string Name { get; set; } = "hostile";

    public string Version { get; set; } = "1.0.0";

    /// <summary>Replaces the manifest JSON after it is built (before signing unless <see cref="TamperAfterSigning"/>).</summary>
    public Func<string, string>? EditManifest { get; set; }

    public bool TamperAfterSigning { get; set; }

    public bool WriteManifest { get; set; } = true;

    public bool WriteSignature { get; set; } = true;

    public bool SignatureFirst { get; set; }

    public bool Gzip { get; set; }

    /// <summary>A payload file listed in the manifest and present in the archive.</summary>
    public HostileBundle File(string path, byte[] data) => Listed(path, data).Entry(BundleFormat.PayloadPrefix + path, data);

    public HostileBundle Listed(string path, byte[] data, long? size = null, string? sha256 = null)
    {
        Files.Add(new BundleFile { Path = path, Size = size ?? data.Length, Sha256 = sha256 ?? BundleKit.Sha256(data) });
        return this;
    }

    public HostileBundle Entry(string name, byte[] data, TarEntryType type = TarEntryType.RegularFile, string? link = null)
    {
        _entries.Add((name, type, data, link));
        return this;
    }

    public byte[] ManifestBytes()
    {
        var manifest = new BundleManifest
        {
            FormatVersion = 1, Kind = BundleKind.Manuals, Name = Name, Version = Version, Licence = "MIT",
            CreatedAt = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
            Runtime = new BundleRuntimeNeeds { ExecutionProviders = [], MinMemoryBytes = 0, MinDiskBytes = 0, MinAgentVersion = null },
            Files = Files, SmokeTest = null,
        };
        return JsonSerializer.SerializeToUtf8Bytes(manifest, BundleJsonContext.Default.BundleManifest);
    }

    public byte[] Build()
    {
        var manifest = ManifestBytes();
        if (EditManifest is not null && !TamperAfterSigning)
        {
            manifest = Encoding.UTF8.GetBytes(EditManifest(Encoding.UTF8.GetString(manifest)));
        }

        var signature = JsonSerializer.SerializeToUtf8Bytes(key.Sign(manifest), BundleJsonContext.Default.BundleSignature);
        if (EditManifest is not null && TamperAfterSigning)
        {
            manifest = Encoding.UTF8.GetBytes(EditManifest(Encoding.UTF8.GetString(manifest)));
        }

        using var output = new MemoryStream();
        using (var compressed = Gzip ? new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true) : null)
        using (var tar = new TarWriter((Stream?)compressed ?? output, TarEntryFormat.Pax, leaveOpen: true))
        {
            var head = new List<(string, byte[])>();
            if (WriteManifest)
            {
                head.Add((BundleFormat.ManifestEntry, manifest));
            }

            if (WriteSignature)
            {
                head.Insert(SignatureFirst ? 0 : head.Count, (BundleFormat.SignatureEntry, signature));
            }

            foreach (var (name, data) in head)
            {
                Write(tar, name, TarEntryType.RegularFile, data, null);
            }

            foreach (var (name, type, data, link) in _entries)
            {
                Write(tar, name, type, data, link);
            }
        }

        return output.ToArray();
    }

    private static void Write(TarWriter tar, string name, TarEntryType type, byte[] data, string? link)
    {
        var entry = new PaxTarEntry(type, name);
        if (type is TarEntryType.RegularFile)
        {
            entry.DataStream = new MemoryStream(data);
        }

        if (link is not null)
        {
            entry.LinkName = link;
        }

        tar.WriteEntry(entry);
    }
}
