using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Knowledge.Tests;

/// <summary>Ingestion of every format, bad inputs as per-file errors, and incremental re-ingestion.</summary>
public sealed class IngestionTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private KnowledgeBase Open(KnowledgeOptions? options = null) => KnowledgeBase.Open(Path.Combine(_dir.Path, "db", "knowledge.db"), options);

    [Fact]
    public async Task Markdown_HeadingPathAndTitleAreKeptAndCited()
    {
        var path = Write("pump.md", "# Pump Manual\n\nIntro text.\n\n## Maintenance\n\n### Seals\n\nReplace the shaft seal when it weeps coolant.\n");
        using var kb = Open();
        var result = Assert.Single(await kb.IngestAsync([path]));
        Assert.Equal(IngestStatus.Added, result.Status);
        var top = kb.Search("shaft seal weeps").Passages[0];
        Assert.Equal("pump.md", top.Document);
        Assert.Equal("Pump Manual", top.Title);
        Assert.Equal(["Pump Manual", "Maintenance", "Seals"], top.HeadingPath);
        Assert.Equal("pump.md, \"Seals\"", top.Citation);
        Assert.Null(top.Page);
    }

    [Fact]
    public async Task Html_HeadingsKeptAndScriptsAndNavigationLeftOut()
    {
        var path = Write("conveyor.html", TestDocuments.Html);
        using var kb = Open();
        Assert.Equal(IngestStatus.Added, Assert.Single(await kb.IngestAsync([path])).Status);
        var align = kb.Search("belt drifts to one side").Passages[0];
        Assert.Equal("Conveyor Manual", align.Title);
        Assert.Equal(["Conveyor Manual", "Belt alignment"], align.HeadingPath);
        Assert.Contains("tracking screw", align.Text, StringComparison.Ordinal);
        var torque = kb.Search("frame bolt torque").Passages[0];
        Assert.Equal(["Conveyor Manual", "Belt alignment", "Torque values"], torque.HeadingPath);
        Assert.Contains("| M8 frame bolt | 25 Nm |", torque.Text, StringComparison.Ordinal);
        Assert.Equal("Motor faults", kb.Search("F-32").Passages[0].HeadingPath[^1]);
        Assert.DoesNotContain(kb.Search("script text must not be indexed").Passages, p => p.Text.Contains("script text", StringComparison.Ordinal));
        Assert.DoesNotContain(kb.Search("parts home").Passages, p => p.Text.StartsWith("Home", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Pdf_TextLayerIsIndexedWithPageNumbersAndHeadings()
    {
        var path = Write("service.pdf", TestDocuments.ServicePdf());
        using var kb = Open();
        var result = Assert.Single(await kb.IngestAsync([path]));
        Assert.Equal(IngestStatus.Added, result.Status);
        var pump = kb.Search("coolant pump stalled").Passages[0];
        Assert.Equal(2, pump.Page);
        Assert.Equal("Coolant Pump", pump.HeadingPath[^1]);
        Assert.Contains("E-17", pump.Text, StringComparison.Ordinal);
        Assert.Equal("service.pdf, \"Coolant Pump\", p. 2", pump.Citation);
        var belt = kb.Search("belt tension hours").Passages[0];
        Assert.Equal(1, belt.Page);
        Assert.Equal("Spindle Service", belt.HeadingPath[^1]);
    }

    [Fact]
    public async Task Pdf_WithoutTextLayer_IsReportedAsScanned()
    {
        var path = Write("scan.pdf", TestDocuments.ScannedPdf());
        using var kb = Open();
        var result = Assert.Single(await kb.IngestAsync([path]));
        Assert.Equal(IngestStatus.Failed, result.Status);
        Assert.Contains("scan.pdf", result.Error, StringComparison.Ordinal);
        Assert.Contains("no text layer", result.Error, StringComparison.Ordinal);
        Assert.Empty(kb.List());
    }

    [Fact]
    public async Task BadInputs_AreClearPerFileErrors_AndTheBatchGoesOn()
    {
        var good = Write("good.md", "# Good\n\nThe hopper gate opens at 40 psi.\n");
        var encrypted = Write("locked.pdf", TestDocuments.EncryptedPdf());
        var corrupt = Write("broken.pdf", "%PDF-1.4\nthis is not really a pdf\n"u8.ToArray());
        var binary = Write("image.md", new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13 });
        var huge = Write("huge.txt", new string('x', 1024 * 1024 + 10));
        var missing = Path.Combine(_dir.Path, "missing.md");
        using var kb = Open(new KnowledgeOptions { MaxFileMegabytes = 1 });
        var results = await kb.IngestAsync([encrypted, corrupt, binary, huge, missing, good]);
        Assert.Equal(6, results.Count);
        Assert.Equal(IngestStatus.Added, results[5].Status);
        foreach (var (r, name, words) in new[]
                 {
                     (results[0], "locked.pdf", "encrypted"), (results[1], "broken.pdf", "PDF"), (results[2], "image.md", "binary"),
                     (results[3], "huge.txt", "limit"), (results[4], "missing.md", "no such file"),
                 })
        {
            Assert.Equal(IngestStatus.Failed, r.Status);
            Assert.Contains(name, r.Error, StringComparison.Ordinal);
            Assert.Contains(words, r.Error, StringComparison.Ordinal);
        }

        Assert.Equal("good.md", Assert.Single(kb.List()).FileName);
        Assert.True(kb.Search("hopper gate psi").Answerable);
    }

    [Fact]
    public async Task Reingest_UnchangedFile_CostsOnlyAHashCheck()
    {
        var path = Write("a.md", "# A\n\n## One\n\nFirst section text about valves.\n\n## Two\n\nSecond section about filters.\n");
        using var kb = Open();
        var first = Assert.Single(await kb.IngestAsync([path]));
        var second = Assert.Single(await kb.IngestAsync([path]));
        Assert.Equal(IngestStatus.Unchanged, second.Status);
        Assert.Equal(first.DocumentId, second.DocumentId);
        Assert.Equal((first.Chunks, 0, 0), (second.Chunks, second.ChunksAdded, second.ChunksRemoved));
    }

    [Fact]
    public async Task Reingest_ChangedSection_ReplacesOnlyThatChunk()
    {
        var path = Write("a.md", "# A\n\n## One\n\nFirst section text about valves.\n\n## Two\n\nSecond section about filters.\n\n## Three\n\nThird about gaskets.\n");
        using var kb = Open();
        await kb.IngestAsync([path]);
        var before = Ids(kb);
        File.WriteAllText(path, "# A\n\n## One\n\nFirst section text about valves.\n\n## Two\n\nSecond section about strainers.\n\n## Three\n\nThird about gaskets.\n");
        var result = Assert.Single(await kb.IngestAsync([path]));
        Assert.Equal(IngestStatus.Updated, result.Status);
        Assert.Equal((3, 1, 1), (result.Chunks, result.ChunksAdded, result.ChunksRemoved));
        var after = Ids(kb);
        Assert.Equal(before["One"], after["One"]);
        Assert.Equal(before["Three"], after["Three"]);
        Assert.NotEqual(before["Two"], after["Two"]);
        Assert.Contains("strainers", kb.Search("strainers").Passages[0].Text, StringComparison.Ordinal);
        Assert.DoesNotContain(kb.Search("filters").Passages, p => p.Text.Contains("filters", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Remove_DeletesTheDocumentAndItsChunks()
    {
        var keep = Write("keep.md", "# Keep\n\nThe gearbox takes 2 litres of ISO VG 220 oil.\n");
        var drop = Write("drop.md", "# Drop\n\nThe gearbox breather must face upwards.\n");
        using var kb = Open();
        var results = await kb.IngestAsync([keep, drop]);
        Assert.True(kb.Remove(results[1].DocumentId!.Value));
        Assert.False(kb.Remove(results[1].DocumentId!.Value));
        Assert.Equal("keep.md", Assert.Single(kb.List()).FileName);
        Assert.All(kb.Search("gearbox breather").Passages, p => Assert.Equal("keep.md", p.Document));
    }

    [Fact]
    public async Task Folder_IsIngestedRecursivelyAndOnlyKnownFormats()
    {
        Directory.CreateDirectory(Path.Combine(_dir.Path, "docs", "sub"));
        Write(Path.Combine("docs", "top.md"), "# Top\n\nAlpha text.\n");
        Write(Path.Combine("docs", "sub", "deep.txt"), "Beta text in plain form.\n\nSecond paragraph.");
        Write(Path.Combine("docs", "sub", "ignored.bin"), "not a manual");
        using var kb = Open();
        var results = await kb.IngestAsync([Path.Combine(_dir.Path, "docs")]);
        Assert.Equal(["deep.txt", "top.md"], results.Select(r => Path.GetFileName(r.Path)).Order(StringComparer.Ordinal));
        Assert.All(results, r => Assert.Equal(IngestStatus.Added, r.Status));
    }

    private static Dictionary<string, long> Ids(KnowledgeBase kb) =>
        new[] { "One", "Two", "Three" }.ToDictionary(h => h, h => KnowledgeBaseProbe.ChunkId(kb, h));
}
