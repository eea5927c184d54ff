using EdgeLlm.Knowledge.Ingestion;
using EdgeLlm.Runtime.Tests;
using Microsoft.Data.Sqlite;

namespace EdgeLlm.Knowledge.Tests;

/// <summary>
/// <see cref="KnowledgeBase.ReplaceSourceAsync"/>: a set of documents replaced as a whole in one transaction, on a real
/// knowledge.db, with readers on other connections.
/// </summary>
public sealed class SourceReplacementTests : IDisposable
{
    private const string Pump = "# Pump Manual\n\n## Seals\n\nReplace the shaft seal when it weeps coolant.\n\n## Impeller\n\nThe impeller nut takes 45 Nm.\n";
    private const string Valve = "# Valve Guide\n\n## Actuator\n\nThe actuator strokes in 4 seconds at 6 bar.\n";
    private const string Hopper = "# Hopper\n\n## Gate\n\nThe hopper gate opens at 40 psi.\n";
    private const string Filter = "# Filter\n\n## Cartridge\n\nChange the filter cartridge every 500 hours.\n";

    private static readonly DocumentSource V1 = new("plant-docs", "1.0.0", "digest-1");
    private static readonly DocumentSource V2 = new("plant-docs", "2.0.0", "digest-2");

    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    private string DbPath => Path.Combine(_dir.Path, "db", KnowledgeBase.FileName);

    private KnowledgeBase Open() => KnowledgeBase.Open(DbPath);

    /// <summary>A folder of manuals: relative path → content.</summary>
    private string Folder(string name, params (string Path, string Text)[] files)
    {
        var root = Path.Combine(_dir.Path, name);
        foreach (var (path, text) in files)
        {
            var full = Path.Combine(root, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, text);
        }

        return root;
    }

    private string FolderV1() => Folder("v1", ("pump.md", Pump), ("guides/valve.md", Valve), ("filter.md", Filter), ("LICENSE", "Proprietary."));

    /// <summary>v2 of the set: pump.md unchanged, valve.md changed, filter.md gone, hopper.md new.</summary>
    private string FolderV2() => Folder("v2", ("pump.md", Pump), ("guides/valve.md", Valve.Replace("4 seconds", "7 seconds", StringComparison.Ordinal)), ("hopper.md", Hopper));

    private static string[] SourcePaths(KnowledgeBase kb, string source) =>
        [.. kb.List().Where(d => d.Source?.Name == source).Select(d => d.SourcePath!).Order(StringComparer.Ordinal)];

    /// <summary>What a reader can observe of the index: every document with its source and chunks, and two searches.</summary>
    private static string Snapshot(KnowledgeBase kb) =>
        string.Join('\n', kb.List().Select(d => $"{d.Id} {d.Path} {d.Hash} {d.Chunks} {d.Source} {d.SourcePath}"))
        + "\n" + string.Join('\n', kb.Search("actuator strokes seconds").Passages.Select(p => $"{p.Path} {p.Score} {p.Text}"))
        + "\n" + string.Join('\n', kb.Search("shaft seal").Passages.Select(p => $"{p.Path} {p.Score}"));

    [Fact]
    public async Task FirstInstall_IndexesEveryManual_TagsItWithTheSource_AndSkipsOtherFiles()
    {
        var folder = FolderV1();
        using var kb = Open();
        Assert.Null(kb.Source(V1.Name));
        var result = await kb.ReplaceSourceAsync(V1, folder);
        Assert.True(result.Replaced, result.Error);
        Assert.Equal(["LICENSE"], result.Skipped);
        Assert.Empty(result.Removed);
        Assert.All(result.Files, f => Assert.Equal(IngestStatus.Added, f.Status));
        Assert.Equal(V1, kb.Source(V1.Name));
        var docs = kb.List();
        Assert.Equal(["filter.md", "guides/valve.md", "pump.md"], SourcePaths(kb, V1.Name));
        Assert.All(docs, d => Assert.Equal(V1, d.Source));
        Assert.Equal(Path.Combine(folder, "guides", "valve.md"), docs.Single(d => d.SourcePath == "guides/valve.md").Path);
        var top = kb.Search("actuator strokes").Passages[0];
        Assert.Equal("valve.md", top.Document);
        Assert.Contains("4 seconds", top.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewVersion_IsExactlyTheNewSet_UnchangedFilesAreNotReindexed_OtherDocumentsUntouched()
    {
        var own = Folder("own", ("gearbox.md", "# Gearbox\n\nThe gearbox takes 2 litres of ISO VG 220 oil.\n"));
        using var kb = Open();
        var single = Assert.Single(await kb.IngestAsync([Path.Combine(own, "gearbox.md")]));
        var other = new DocumentSource("other-docs", "1.0.0", "x");
        Assert.True((await kb.ReplaceSourceAsync(other, Folder("other", ("pump.md", Pump)))).Replaced);
        Assert.True((await kb.ReplaceSourceAsync(V1, FolderV1())).Replaced);
        var before = kb.List();
        var pumpBefore = before.Single(d => d.Source == V1 && d.SourcePath == "pump.md");
        var pumpChunk = KnowledgeBaseProbe.ChunkId(kb, "Impeller", pumpBefore.Id);
        var valveChunk = KnowledgeBaseProbe.ChunkId(kb, "Actuator", before.Single(d => d.SourcePath == "guides/valve.md").Id);

        var folder = FolderV2();
        var result = await kb.ReplaceSourceAsync(V2, folder);

        Assert.True(result.Replaced, result.Error);
        Assert.Equal(["filter.md"], result.Removed);
        Assert.Empty(result.Skipped);
        var status = result.Files.ToDictionary(f => Path.GetFileName(f.Path), f => f.Status);
        Assert.Equal(IngestStatus.Unchanged, status["pump.md"]);
        Assert.Equal(IngestStatus.Updated, status["valve.md"]);
        Assert.Equal(IngestStatus.Added, status["hopper.md"]);
        Assert.Equal(["guides/valve.md", "hopper.md", "pump.md"], SourcePaths(kb, V1.Name));
        var after = kb.List();
        Assert.All(after.Where(d => d.Source?.Name == V1.Name), d => Assert.Equal(V2, d.Source));
        var pumpAfter = after.Single(d => d.Source == V2 && d.SourcePath == "pump.md");
        Assert.Equal(pumpBefore.Id, pumpAfter.Id);
        Assert.Equal(Path.Combine(folder, "pump.md"), pumpAfter.Path);
        Assert.Equal(pumpChunk, KnowledgeBaseProbe.ChunkId(kb, "Impeller", pumpAfter.Id));
        Assert.NotEqual(valveChunk, KnowledgeBaseProbe.ChunkId(kb, "Actuator", after.Single(d => d.SourcePath == "guides/valve.md").Id));
        Assert.Contains("7 seconds", kb.Search("actuator strokes").Passages[0].Text, StringComparison.Ordinal);
        Assert.DoesNotContain(kb.Search("filter cartridge hours").Passages, p => p.Document == "filter.md");
        Assert.Equal(V2, kb.Source(V1.Name));

        var removed = await kb.ReplaceSourceAsync(V1 with { Version = "3.0.0" }, Folder("v3", ("hopper.md", Hopper)));
        Assert.Equal(["guides/valve.md", "pump.md"], removed.Removed);
        Assert.Equal(["hopper.md"], SourcePaths(kb, V1.Name));
        Assert.DoesNotContain(kb.Search("actuator strokes seconds").Passages, p => p.Document == "valve.md");

        var gearbox = Assert.Single(kb.List(), d => d.Id == single.DocumentId);
        Assert.Null(gearbox.Source);
        Assert.True(kb.Search("gearbox oil litres").Answerable);
        Assert.Equal(["pump.md"], SourcePaths(kb, other.Name));
        Assert.Equal("other", Path.GetFileName(Path.GetDirectoryName(kb.Search("shaft seal weeps").Passages[0].Path)));
    }

    [Theory]
    [InlineData("broken.pdf", "PDF")]
    [InlineData("image.md", "binary")]
    [InlineData("empty.txt", "no text")]
    public async Task AnUnparseableFile_RefusesTheWholeSet_AndTheIndexIsAsBefore(string badFile, string words)
    {
        using var kb = Open();
        Assert.True((await kb.ReplaceSourceAsync(V1, FolderV1())).Replaced);
        var before = Snapshot(kb);
        var folder = FolderV2();
        var bad = Path.Combine(folder, "sub", badFile);
        Directory.CreateDirectory(Path.GetDirectoryName(bad)!);
        File.WriteAllBytes(bad, badFile switch
        {
            "broken.pdf" => "%PDF-1.4\nthis is not really a pdf\n"u8.ToArray(),
            "image.md" => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13],
            _ => [],
        });

        var result = await kb.ReplaceSourceAsync(V2, folder);

        Assert.False(result.Replaced);
        Assert.Contains(badFile, result.Error, StringComparison.Ordinal);
        Assert.Contains(words, result.Error, StringComparison.Ordinal);
        Assert.Equal(bad, Assert.Single(result.Files).Path);
        Assert.Equal(before, Snapshot(kb));
        Assert.Equal(V1, kb.Source(V1.Name));
        using var reopened = Open();
        Assert.Equal(before, Snapshot(reopened));
    }

    [Fact]
    public async Task AFolderWithoutManuals_IsRefused()
    {
        using var kb = Open();
        Assert.True((await kb.ReplaceSourceAsync(V1, FolderV1())).Replaced);
        var before = Snapshot(kb);
        var result = await kb.ReplaceSourceAsync(V2, Folder("none", ("LICENSE", "Proprietary.")));
        Assert.False(result.Replaced);
        Assert.Contains("no manuals", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(kb));
    }

    [Theory]
    [InlineData("removed")]
    [InlineData("written")]
    public async Task AFaultInsideTheTransaction_LeavesTheOldIndex(string step)
    {
        string before;
        using (var kb = Open())
        {
            Assert.True((await kb.ReplaceSourceAsync(V1, FolderV1())).Replaced);
            before = Snapshot(kb);
            kb.WriteStep = s =>
            {
                if (s == step)
                {
                    throw new IOException("simulated: disk full");
                }
            };
            var folder = FolderV2();
            await Assert.ThrowsAsync<IOException>(() => kb.ReplaceSourceAsync(V2, folder));
            Assert.Equal(before, Snapshot(kb));
        }

        using var reopened = Open();
        Assert.Equal(before, Snapshot(reopened));
        Assert.Equal(V1, reopened.Source(V1.Name));
    }

    [Fact]
    public async Task ACrashBeforeTheCommit_LeavesFilesOnDiskThatOpenAsTheOldIndex()
    {
        using var kb = Open();
        Assert.True((await kb.ReplaceSourceAsync(V1, FolderV1())).Replaced);
        var before = Snapshot(kb);
        var crashed = Path.Combine(_dir.Path, "crashed", KnowledgeBase.FileName);
        kb.WriteStep = s =>
        {
            if (s == "written")
            {
                // What kill -9 at this instant leaves: the database, its WAL and shared-memory index as they are now.
                CopyDatabase(DbPath, crashed);
            }
        };

        var folder = FolderV2();
        Assert.True((await kb.ReplaceSourceAsync(V2, folder)).Replaced);

        using var recovered = KnowledgeBase.Open(crashed);
        Assert.Equal(before, Snapshot(recovered));
        Assert.Equal(V1, recovered.Source(V1.Name));
        Assert.Equal(V2, kb.Source(V1.Name));
    }

    [Fact]
    public async Task AReaderOnAnotherConnection_SeesTheWholeOldSetUntilTheCommit()
    {
        using var kb = Open();
        Assert.True((await kb.ReplaceSourceAsync(V1, FolderV1())).Replaced);
        using var reader = Open();
        var before = Snapshot(reader);
        var seen = new List<string>();
        kb.WriteStep = s => seen.Add(s + ": " + (Snapshot(reader) == before ? "old" : "changed"));

        Assert.True((await kb.ReplaceSourceAsync(V2, FolderV2())).Replaced);

        Assert.Equal(["removed: old", "written: old"], seen);
        Assert.Equal(["guides/valve.md", "hopper.md", "pump.md"], SourcePaths(reader, V1.Name));
        Assert.NotEqual(before, Snapshot(reader));
    }

    [Fact]
    public async Task AReaderLoopingDuringReplacements_SeesOnlyWholeSets()
    {
        var folders = new[] { FolderV1(), FolderV2() };
        using var kb = Open();
        Assert.True((await kb.ReplaceSourceAsync(V1, folders[0])).Replaced);
        string[][] sets = [["filter.md", "guides/valve.md", "pump.md"], ["guides/valve.md", "hopper.md", "pump.md"]];
        using var reader = Open();
        var done = 0;
        var observations = new List<(string[] Paths, string[] Folders)>();
        var readerTask = Task.Run(() =>
        {
            for (var i = 0; i < 10_000 && Volatile.Read(ref done) == 0; i++)
            {
                var docs = reader.List().Where(d => d.Source?.Name == V1.Name).ToList();
                observations.Add(([.. docs.Select(d => d.SourcePath!).Order(StringComparer.Ordinal)], [.. docs.Select(d => Path.GetRelativePath(_dir.Path, d.Path).Split('/')[0]).Distinct()]));
            }
        });

        for (var i = 1; i <= 20; i++)
        {
            var result = await kb.ReplaceSourceAsync(i % 2 == 0 ? V1 : V2, folders[i % 2]);
            Assert.True(result.Replaced, result.Error);
        }

        Volatile.Write(ref done, 1);
        await readerTask;
        Assert.NotEmpty(observations);
        Assert.All(observations, o =>
        {
            Assert.Contains(sets, s => s.SequenceEqual(o.Paths));
            // Every document of one observation lives in the same version's folder.
            Assert.Single(o.Folders);
            Assert.Equal(o.Paths.Contains("hopper.md") ? "v2" : "v1", o.Folders[0]);
        });
    }

    [Fact]
    public async Task IngestingABundlesFileOnItsOwn_KeepsItsSource()
    {
        var folder = FolderV1();
        using var kb = Open();
        Assert.True((await kb.ReplaceSourceAsync(V1, folder)).Replaced);
        File.AppendAllText(Path.Combine(folder, "pump.md"), "\n## Bearings\n\nGrease the bearings monthly.\n");
        Assert.Equal(IngestStatus.Updated, Assert.Single(await kb.IngestAsync([Path.Combine(folder, "pump.md")])).Status);
        var pump = Assert.Single(kb.List(), d => d.FileName == "pump.md");
        Assert.Equal((V1, "pump.md"), (pump.Source, pump.SourcePath));
    }

    [Fact]
    public void AVersion1Index_IsMigrated_KeepingItsDocuments()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DbPath)!);
        using (var db = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            db.Open();
            KnowledgeSchema.Apply(db, target: 1);
            using var cmd = db.CreateCommand();
            cmd.CommandText = "INSERT INTO documents(path, file_name, title, format, hash, bytes, ingested_at) VALUES ('/m/a.md', 'a.md', 'A', 'markdown', 'h', 1, '2025-01-01T00:00:00.0000000+00:00')";
            cmd.ExecuteNonQuery();
        }

        using var kb = Open();
        var doc = Assert.Single(kb.List());
        Assert.Equal(("a.md", null, null), (doc.FileName, doc.Source, doc.SourcePath));
        Assert.Equal(KnowledgeSchema.Version, (int)KnowledgeBaseProbe.Scalar(kb, "PRAGMA user_version"));
    }

    private static void CopyDatabase(string from, string to)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(to)!);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            if (File.Exists(from + suffix))
            {
                File.Copy(from + suffix, to + suffix, overwrite: true);
            }
        }
    }
}
