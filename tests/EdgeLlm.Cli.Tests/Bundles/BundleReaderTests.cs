using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using EdgeLlm.Contracts.Bundles;

namespace EdgeLlm.Cli.Tests.Bundles;

/// <summary>Round trips, key trust, and every hostile bundle the issue lists, each refused with its reason and no trace.</summary>
public sealed class BundleReaderTests : IDisposable
{
    private static readonly byte[] Data = Encoding.UTF8.GetBytes("Belt tension: 8 mm deflection at 10 N.");

    private readonly BundleKit _kit = new();

    public void Dispose() => _kit.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Unpack_CreatedBundle_ReproducesEveryFileAndReportsTheSignedManifest(bool gzip)
    {
        var bundle = await _kit.CreateAsync(gzip);
        Assert.Equal(gzip, bundle[0] == 0x1f && bundle[1] == 0x8b);

        var verified = await _kit.UnpackAsync(bundle);

        Assert.Equal(gzip, verified.Header.Compressed);
        Assert.Equal(_kit.Key.KeyId, verified.KeyId);
        Assert.Equal(Path.GetFullPath(_kit.Staging), verified.StagingDirectory);
        Assert.Equal(["empty.txt", "genai_config.json", "weights/model.onnx"], verified.Manifest.Files.Select(f => f.Path));
        foreach (var file in verified.Manifest.Files)
        {
            var source = File.ReadAllBytes(Path.Combine(_kit.Source, file.Path));
            Assert.Equal(source, File.ReadAllBytes(Path.Combine(_kit.Staging, file.Path)));
            Assert.Equal(BundleKit.Sha256(source), file.Sha256);
        }

        Assert.Equal(BundleKind.Model, verified.Manifest.Kind);
        Assert.Equal(["cpu"], verified.Manifest.Runtime.ExecutionProviders);
        Assert.Equal(verified.Manifest.TotalBytes, verified.Manifest.Runtime.MinDiskBytes);
    }

    [Fact]
    public async Task Verify_ChecksEverythingButWritesNothing()
    {
        var path = Path.Combine(_kit.Root, "b.edgebundle");
        File.WriteAllBytes(path, await _kit.CreateAsync());
        using var trust = _kit.Trust();

        var verified = await new BundleReader(trust).VerifyAsync(path, CancellationToken.None);

        Assert.Null(verified.StagingDirectory);
        Assert.Equal("qwen-tiny", verified.Manifest.Name);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_kit.Parent));
    }

    [Fact]
    public async Task Inspect_ReadsManifestAndKeyIdWithoutAnyTrust()
    {
        var path = Path.Combine(_kit.Root, "b.edgebundle");
        var smoke = new BundleSmokeTest
        {
            Prompts = [new BundleSmokePrompt { Prompt = "Belt tension?", MaxTokens = 16, ExpectSubstrings = ["belt"] }],
            TimeoutSeconds = 60, MinTokensPerS = 5,
        };
        File.WriteAllBytes(path, await _kit.CreateAsync(gzip: true, key: _kit.OtherKey, smoke: smoke));

        var header = await BundleReader.InspectAsync(path, limits: null, CancellationToken.None);

        Assert.Equal(_kit.OtherKey.KeyId, header.KeyId);
        Assert.True(header.Compressed);
        Assert.Equal(smoke.Prompts[0].ExpectSubstrings, header.Manifest.SmokeTest!.Prompts[0].ExpectSubstrings);
        Assert.Equal(5, header.Manifest.SmokeTest.MinTokensPerS);
        Assert.Matches("^[0-9a-f]{64}$", header.ManifestSha256);
    }

    [Fact]
    public void KeyId_IsFirst16HexOfSha256OfSubjectPublicKeyInfo()
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        key.ImportFromPem(_kit.Key.ExportPublicKeyPem());
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];
        Assert.Equal(expected, _kit.Key.KeyId);
        Assert.Equal(expected, BundleKeys.KeyIdOf(key));
    }

    [Fact]
    public async Task Trust_TwoKeysForRotation_AcceptsBundlesFromEither()
    {
        var oldBundle = await _kit.CreateAsync(key: _kit.Key);
        var newBundle = await _kit.CreateAsync(key: _kit.OtherKey);
        using var trust = _kit.Trust(_kit.Key, _kit.OtherKey);
        var reader = new BundleReader(trust);

        Assert.Equal(_kit.Key.KeyId, (await reader.VerifyAsync(new MemoryStream(oldBundle), CancellationToken.None)).KeyId);
        Assert.Equal(_kit.OtherKey.KeyId, (await reader.VerifyAsync(new MemoryStream(newBundle), CancellationToken.None)).KeyId);
    }

    [Fact]
    public async Task UnknownKey_IsRefusedNamingTheKeyId()
    {
        var bundle = await _kit.CreateAsync(key: _kit.OtherKey);
        var ex = await _kit.AssertRefusedAsync(bundle, BundleRejectReason.UnknownKey);
        Assert.Contains(_kit.OtherKey.KeyId, ex.Message, StringComparison.Ordinal);
        Assert.Contains(_kit.Key.KeyId, ex.Message, StringComparison.Ordinal);
        Assert.Equal("unknown_key", ex.Code);
    }

    [Fact]
    public async Task ManifestChangedAfterSigning_IsBadSignature()
    {
        var bundle = Hostile().File("a.txt", Data);
        bundle.EditManifest = json => json.Replace("\"MIT\"", "\"GPL-3.0\"", StringComparison.Ordinal);
        bundle.TamperAfterSigning = true;
        await _kit.AssertRefusedAsync(bundle.Build(), BundleRejectReason.BadSignature);
    }

    [Fact]
    public async Task SignatureBytesFlipped_IsBadSignature()
    {
        var bundle = await _kit.CreateAsync();
        var text = Encoding.Latin1.GetString(bundle);
        var at = text.IndexOf("\"signature\": \"", StringComparison.Ordinal) + 14;
        bundle[at] = (byte)(bundle[at] == 'A' ? 'B' : 'A');
        await _kit.AssertRefusedAsync(bundle, BundleRejectReason.BadSignature);
    }

    [Fact]
    public async Task FileContentDiffers_IsHashMismatchNamingTheEntry()
    {
        var ex = await _kit.AssertRefusedAsync(
            Hostile().Listed("a.txt", Data).Entry("payload/a.txt", Data.Reverse().ToArray()).Build(), BundleRejectReason.HashMismatch);
        Assert.Equal("payload/a.txt", ex.Entry);
    }

    [Fact]
    public async Task OneByteFlippedInCreatedBundle_IsHashMismatch()
    {
        var bundle = await _kit.CreateAsync();
        var at = Encoding.Latin1.GetString(bundle).IndexOf("\"model\":{\"type\"", StringComparison.Ordinal);
        bundle[at + 3] ^= 0x20;
        var ex = await _kit.AssertRefusedAsync(bundle, BundleRejectReason.HashMismatch);
        Assert.Equal("payload/genai_config.json", ex.Entry);
    }

    [Fact]
    public async Task FileSizeDiffers_IsSizeMismatch()
    {
        var ex = await _kit.AssertRefusedAsync(
            Hostile().Listed("a.txt", Data).Entry("payload/a.txt", [.. Data, 0x20]).Build(), BundleRejectReason.SizeMismatch);
        Assert.Contains("payload/a.txt", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("payload/../escaped.txt")]
    [InlineData("payload/a/../../escaped.txt")]
    [InlineData("../escaped.txt")]
    [InlineData("/tmp/edgellm-bundle-escape.txt")]
    [InlineData("payload//a.txt")]
    [InlineData("payload/./a.txt")]
    [InlineData("payload/a\\..\\..\\escaped.txt")]
    public async Task EntryWithUnsafePath_IsRefusedAndNothingEscapes(string name)
    {
        var ex = await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).Entry(name, Data).Build(), BundleRejectReason.UnsafePath);
        Assert.Equal(name, ex.Entry);
        Assert.False(File.Exists(Path.Combine(_kit.Root, "escaped.txt")));
        Assert.False(File.Exists("/tmp/edgellm-bundle-escape.txt"));
    }

    [Theory]
    [InlineData("../escaped.txt")]
    [InlineData("a/../../escaped.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("a\\b")]
    [InlineData("C:/x")]
    [InlineData("a/")]
    [InlineData("bad\nname")]
    public async Task ManifestWithUnsafePath_IsRefusedBeforeAnyPayload(string path)
    {
        await _kit.AssertRefusedAsync(Hostile().File(path, Data).Build(), BundleRejectReason.UnsafePath);
    }

    [Theory]
    [InlineData(TarEntryType.SymbolicLink, BundleRejectReason.LinkEntry)]
    [InlineData(TarEntryType.HardLink, BundleRejectReason.LinkEntry)]
    [InlineData(TarEntryType.Fifo, BundleRejectReason.SpecialEntry)]
    [InlineData(TarEntryType.CharacterDevice, BundleRejectReason.SpecialEntry)]
    [InlineData(TarEntryType.BlockDevice, BundleRejectReason.SpecialEntry)]
    public async Task LinkOrSpecialEntry_IsRefused(TarEntryType type, BundleRejectReason reason)
    {
        var link = type is TarEntryType.SymbolicLink or TarEntryType.HardLink ? "/etc/passwd" : null;
        var ex = await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).Entry("payload/b.txt", [], type, link).Build(), reason);
        Assert.Equal("payload/b.txt", ex.Entry);
    }

    [Fact]
    public async Task SymlinkThenWriteThroughIt_IsRefusedAtTheLink()
    {
        // The classic tar slip: a link to a folder outside, then a file "inside" the link.
        var bundle = Hostile().File("a.txt", Data).Entry("payload/out", [], TarEntryType.SymbolicLink, _kit.Root).Entry("payload/out/x.txt", Data).Build();
        await _kit.AssertRefusedAsync(bundle, BundleRejectReason.LinkEntry);
        Assert.False(File.Exists(Path.Combine(_kit.Root, "x.txt")));
    }

    [Fact]
    public async Task DirectoryEntriesUnderPayload_AreTolerated()
    {
        var bundle = Hostile().Entry("payload/", [], TarEntryType.Directory).Entry("payload/docs/", [], TarEntryType.Directory).File("docs/a.txt", Data).Build();
        var verified = await _kit.UnpackAsync(bundle);
        Assert.Equal(Data, File.ReadAllBytes(Path.Combine(verified.StagingDirectory!, "docs", "a.txt")));
    }

    [Fact]
    public async Task GlobalPaxHeaderEntry_IsUnsupported()
    {
        var bundle = Hostile().File("a.txt", Data);
        var bytes = bundle.Build();
        using var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        using (var reader = new TarReader(new MemoryStream(bytes)))
        {
            var n = 0;
            while (reader.GetNextEntry(copyData: true) is { } entry)
            {
                if (n++ == 2)
                {
                    tar.WriteEntry(new PaxGlobalExtendedAttributesTarEntry(new Dictionary<string, string> { ["comment"] = "x" }));
                }

                tar.WriteEntry(entry);
            }
        }

        await _kit.AssertRefusedAsync(output.ToArray(), BundleRejectReason.UnsupportedEntry);
    }

    [Fact]
    public async Task ManifestListingAFileTwice_IsDuplicatePath()
    {
        await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).Listed("a.txt", Data).Build(), BundleRejectReason.DuplicatePath);
    }

    [Fact]
    public async Task ManifestListingPathsThatDifferOnlyInCase_IsDuplicatePath()
    {
        await _kit.AssertRefusedAsync(Hostile().File("docs/A.txt", Data).File("docs/a.txt", Data).Build(), BundleRejectReason.DuplicatePath);
    }

    [Fact]
    public async Task ManifestListingAFileThatIsAlsoAFolder_IsDuplicatePath()
    {
        await _kit.AssertRefusedAsync(Hostile().File("docs", Data).File("docs/a.txt", Data).Build(), BundleRejectReason.DuplicatePath);
    }

    [Fact]
    public async Task SameEntryTwiceInArchive_IsDuplicateEntry()
    {
        await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).Entry("payload/a.txt", Data).Build(), BundleRejectReason.DuplicateEntry);
    }

    [Theory]
    [InlineData("payload/unlisted.txt")]
    [InlineData("readme.txt")]
    public async Task EntryTheManifestDoesNotList_IsExtraEntry(string name)
    {
        var ex = await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).Entry(name, Data).Build(), BundleRejectReason.ExtraEntry);
        Assert.Equal(name, ex.Entry);
    }

    [Fact]
    public async Task FileTheArchiveLacks_IsMissingFile()
    {
        var ex = await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).Listed("b.txt", Data).Build(), BundleRejectReason.MissingFile);
        Assert.Equal("payload/b.txt", ex.Entry);
    }

    public static TheoryData<string> CutPoints => ["inside first header", "inside manifest", "inside payload header", "inside payload", "inside padding", "before end marker", "inside first end block", "between end blocks", "inside second end block"];

    [Theory]
    [MemberData(nameof(CutPoints))]
    public async Task TruncatedArchive_AtEveryCutPointClass_IsTruncated(string where)
    {
        var big = BundleKit.RandomBytes(10_000, seed: 3);
        var full = Hostile().File("a.txt", Data).File("big.bin", big).Build();
        var text = Encoding.Latin1.GetString(full);
        var payloadHeader = text.IndexOf("payload/", StringComparison.Ordinal) / 512 * 512;
        var bigData = text.IndexOf(Encoding.Latin1.GetString(big, 0, 64), StringComparison.Ordinal);
        var end = full.Length - 1024;
        var cut = where switch
        {
            "inside first header" => 100,
            "inside manifest" => text.IndexOf("\"format_version\"", StringComparison.Ordinal) + 10,
            "inside payload header" => payloadHeader + 200,
            "inside payload" => bigData + 5000,
            "inside padding" => bigData + big.Length + 10,
            "before end marker" => end,
            "inside first end block" => end + 100,
            "between end blocks" => end + 512,
            _ => end + 700,
        };

        await _kit.AssertRefusedAsync(full[..cut], BundleRejectReason.Truncated);
    }

    [Fact]
    public async Task TruncatedGzip_IsTruncated()
    {
        var full = await _kit.CreateAsync(gzip: true);
        await _kit.AssertRefusedAsync(full[..(full.Length / 2)], BundleRejectReason.Truncated);
    }

    [Fact]
    public async Task GzipBomb_IsStoppedSoonAfterTheDeclaredSize()
    {
        // A valid bundle followed by 1 GiB of zeros: tiny compressed, huge decompressed.
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(Hostile().File("a.txt", Data).Build());
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 1024; i++)
            {
                gzip.Write(zeros);
            }
        }

        var bomb = output.ToArray();
        Assert.True(bomb.Length < 4 << 20);
        var counting = new CountingStream(new MemoryStream(bomb));
        using var trust = _kit.Trust();
        var ex = await Assert.ThrowsAsync<BundleRejectedException>(() => new BundleReader(trust).UnpackAsync(counting, _kit.Staging, CancellationToken.None));
        Assert.Equal(BundleRejectReason.DecompressionBomb, ex.Reason);
        Assert.True(counting.BytesRead < bomb.Length / 4, $"read {counting.BytesRead} of {bomb.Length} compressed bytes before stopping");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_kit.Parent));
    }

    [Fact]
    public async Task DeclaredTotalOverTheCap_IsTooLarge()
    {
        var bundle = Hostile().Listed("huge.bin", [], size: 100L << 30).Build();
        await _kit.AssertRefusedAsync(bundle, BundleRejectReason.TooLarge);
        await _kit.AssertRefusedAsync(await _kit.CreateAsync(), BundleRejectReason.TooLarge, new BundleLimits { MaxTotalBytes = 1000 });
    }

    [Fact]
    public async Task PlainArchiveWithJunkAfterTheEnd_IsMalformed()
    {
        var bundle = Hostile().File("a.txt", Data).Build();
        await _kit.AssertRefusedAsync([.. bundle, .. "junk"u8], BundleRejectReason.Malformed);
    }

    [Fact]
    public async Task ManifestNotFirst_IsManifestMissing()
    {
        await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).With(b => b.SignatureFirst = true).Build(), BundleRejectReason.ManifestMissing);
        await _kit.AssertRefusedAsync(Hostile().With(b => b.WriteManifest = false).Build(), BundleRejectReason.ManifestMissing);
    }

    [Fact]
    public async Task SignatureMissing_IsSignatureMissing()
    {
        await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).With(b => b.WriteSignature = false).Build(), BundleRejectReason.SignatureMissing);
    }

    [Fact]
    public async Task EmptyOrNonTarInput_IsRefused()
    {
        await _kit.AssertRefusedAsync(new byte[1024], BundleRejectReason.ManifestMissing);
        await _kit.AssertRefusedAsync(BundleKit.RandomBytes(4096, seed: 1), BundleRejectReason.Malformed);
    }

    [Fact]
    public async Task OversizedManifest_IsRefusedBeforeItIsRead()
    {
        var bundle = new HostileBundle(_kit.Key) { WriteManifest = false, WriteSignature = false }
            .Entry(BundleFormat.ManifestEntry, new byte[(1 << 20) + 1]).Build();
        await _kit.AssertRefusedAsync(bundle, BundleRejectReason.ManifestTooLarge);
    }

    [Theory]
    [InlineData("{\"format_version\":1,", BundleRejectReason.ManifestInvalid)]
    [InlineData("[1,2]", BundleRejectReason.ManifestInvalid)]
    [InlineData("{\"format_version\":\"1\"}", BundleRejectReason.ManifestInvalid)]
    [InlineData("{\"format_version\":2,\"future\":true}", BundleRejectReason.UnsupportedFormatVersion)]
    public async Task MalformedOrFutureManifest_IsRefused(string json, BundleRejectReason reason)
    {
        var bundle = Hostile().File("a.txt", Data).With(b => b.EditManifest = _ => json).Build();
        await _kit.AssertRefusedAsync(bundle, reason);
    }

    [Theory]
    [InlineData("\"licence\"", "\"licence\": \"MIT\", \"extra\"")]
    [InlineData("\"kind\": \"manuals\"", "\"kind\": 2")]
    [InlineData("\"kind\": \"manuals\"", "\"kind\": \"firmware\"")]
    [InlineData("\"size\": ", "\"size\": -")]
    [InlineData("\"min_memory_bytes\": 0,", "")]
    public async Task ManifestWithUnknownMissingOrBadField_IsManifestInvalid(string find, string replace)
    {
        var bundle = Hostile().File("a.txt", Data).With(b => b.EditManifest = json => json.Replace(find, replace, StringComparison.Ordinal)).Build();
        await _kit.AssertRefusedAsync(bundle, BundleRejectReason.ManifestInvalid);
    }

    [Theory]
    [InlineData("../evil", "1.0.0")]
    [InlineData("a/b", "1.0.0")]
    [InlineData(".hidden", "1.0.0")]
    [InlineData("ok", "1.0")]
    [InlineData("ok", "../1.0.0")]
    [InlineData("ok", "1.0.0/x")]
    public async Task UnsafeNameOrVersion_IsUnsafeName(string name, string version)
    {
        await _kit.AssertRefusedAsync(Hostile().File("a.txt", Data).With(b => (b.Name, b.Version) = (name, version)).Build(), BundleRejectReason.UnsafeName);
    }

    [Fact]
    public async Task NonEmptyStaging_IsRefusedAndLeftAlone()
    {
        Directory.CreateDirectory(_kit.Staging);
        File.WriteAllText(Path.Combine(_kit.Staging, "keep.txt"), "x");
        await Assert.ThrowsAsync<IOException>(async () => await _kit.UnpackAsync(await _kit.CreateAsync()));
        Assert.Equal("x", File.ReadAllText(Path.Combine(_kit.Staging, "keep.txt")));
    }

    [Fact]
    public async Task Create_SymlinkInSourceFolder_IsRefused()
    {
        File.CreateSymbolicLink(Path.Combine(_kit.Source, "passwd"), "/etc/passwd");
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _kit.CreateAsync());
        Assert.Contains("symbolic link", ex.Message, StringComparison.Ordinal);
    }

    private HostileBundle Hostile() => new(_kit.Key);

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            BytesRead += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

internal static class HostileBundleExtensions
{
    public static HostileBundle With(this HostileBundle bundle, Action<HostileBundle> change)
    {
        change(bundle);
        return bundle;
    }
}
