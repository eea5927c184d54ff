using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Knowledge;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Tests.Updates;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Knowledge;
using EdgeLlm.Runtime.Tests;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests.Knowledge;

/// <summary>
/// Manuals bundles end to end below the import pipeline: real signed bundles written with <see cref="BundleWriter"/>,
/// unpacked by <see cref="BundleReader"/> into <c>staging/{sha256}/</c>, installed into a real knowledge.db that the
/// agent's <see cref="Manuals"/> keeps open.
/// </summary>
public sealed class ManualsBundleTests : IDisposable
{
    private const string Name = "klipper-docs";

    /// <summary>Real manuals shared by the test machines (Klipper's documentation, GPL-3.0).</summary>
    private static readonly string SharedManuals = Environment.GetEnvironmentVariable("EDGELLM_TEST_MANUALS") ?? "/work/shared/data/manuals/klipper";

    private const string Capper = "# Capper Service\n\n## Torque head\n\nSet the capping head clutch to 12 inch-pounds for 38 mm caps.\n";

    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly BundleSigningKey _key = BundleSigningKey.Generate();
    private readonly BundleTrust _trust = new();
    private readonly AgentOptions _options;
    private readonly ActiveModel _active;
    private readonly Manuals _manuals;

    public ManualsBundleTests()
    {
        _trust.Add(_key.ExportPublicKeyPem());
        _options = new AgentOptions { DataDir = Path.Combine(_dir.Path, "data"), Model = AgentOptions.NoModel };
        _active = new ActiveModel(Options.Create(_options), NullLogger<ActiveModel>.Instance);
        _manuals = new Manuals(Options.Create(_options), Options.Create(new ManualsOptions()), _active);
    }

    public void Dispose()
    {
        _manuals.Dispose();
        _active.Dispose();
        _trust.Dispose();
        _key.Dispose();
        _dir.Dispose();
    }

    private string DbPath => Path.Combine(_options.DataDir, KnowledgeBase.FileName);

    private ManualsBundleInstaller Installer(IActivationEvents events) =>
        new(Options.Create(_options), Options.Create(new KnowledgeOptions()), _manuals, events, TimeProvider.System, NullLogger<ManualsBundleInstaller>.Instance);

    private static string Shared(string file)
    {
        var path = Path.Combine(SharedManuals, file);
        return File.Exists(path) ? File.ReadAllText(path)
            : throw new InvalidOperationException($"Test manual '{path}' is missing: set EDGELLM_TEST_MANUALS to a folder holding Klipper's docs/*.md.");
    }

    /// <summary>v1: two real manuals, a generated one in a sub-folder, and a licence that is not a manual.</summary>
    private static (string Path, string Text)[] V1Files() =>
    [
        ("Axis_Twist_Compensation.md", Shared("Axis_Twist_Compensation.md")),
        ("Multi_MCU_Homing.md", Shared("Multi_MCU_Homing.md")),
        ("guides/capper.md", Capper),
        ("LICENSE", "GPL-3.0"),
    ];

    /// <summary>v2: one unchanged, one removed (Multi_MCU_Homing), one changed (capper), one added (Skew_Correction).</summary>
    private static (string Path, string Text)[] V2Files() =>
    [
        ("Axis_Twist_Compensation.md", Shared("Axis_Twist_Compensation.md")),
        ("guides/capper.md", Capper.Replace("12 inch-pounds", "15 inch-pounds", StringComparison.Ordinal)),
        ("Skew_Correction.md", Shared("Skew_Correction.md")),
    ];

    /// <summary>Writes a signed manuals bundle of <paramref name="files"/> and unpacks it into staging as the import pipeline does.</summary>
    private async Task<(string Staging, BundleManifest Manifest)> StageAsync(string version, params (string Path, byte[] Bytes)[] files)
    {
        var source = Path.Combine(_dir.Path, "src", version + "-" + Guid.NewGuid().ToString("N")[..6]);
        foreach (var (path, bytes) in files)
        {
            var full = Path.Combine(source, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            await File.WriteAllBytesAsync(full, bytes);
        }

        var bundle = source + Downloader.BundleExtension;
        var output = File.Create(bundle);
        await using (output)
        {
            await BundleWriter.CreateAsync(new BundleCreateOptions { Kind = BundleKind.Manuals, Name = Name, Version = version, Licence = "GPL-3.0" },
                source, _key, output, TimeProvider.System, CancellationToken.None);
        }

        var staging = Path.Combine(_options.DataDir, Downloader.StagingFolder, await ImportPipeline.HashFileAsync(bundle, CancellationToken.None));
        var verified = await new BundleReader(_trust).UnpackAsync(bundle, staging, CancellationToken.None);
        return (staging, verified.Manifest);
    }

    private Task<(string Staging, BundleManifest Manifest)> StageAsync(string version, (string Path, string Text)[] files) =>
        StageAsync(version, [.. files.Select(f => (f.Path, System.Text.Encoding.UTF8.GetBytes(f.Text)))]);

    /// <summary>Installs as the import pipeline will: then the staging folder is deleted, whatever happened.</summary>
    private static async Task<ActivationResult> InstallAsync(ManualsBundleInstaller installer, (string Staging, BundleManifest Manifest) staged)
    {
        try
        {
            return await installer.InstallAsync(staged.Staging, staged.Manifest, CancellationToken.None);
        }
        finally
        {
            if (Directory.Exists(staged.Staging))
            {
                Directory.Delete(staged.Staging, recursive: true);
            }
        }
    }

    private async Task<(ActivationResult Result, BundleManifest Manifest)> InstallAsync(string version, (string Path, string Text)[] files, RecordingEvents? events = null)
    {
        using var installer = Installer(events ?? new RecordingEvents());
        var staged = await StageAsync(version, files);
        return (await InstallAsync(installer, staged), staged.Manifest);
    }

    private KnowledgeBase OpenIndex() => KnowledgeBase.Open(DbPath);

    private static string[] BundleDocuments(KnowledgeBase kb) =>
        [.. kb.List().Where(d => d.Source?.Name == Name).Select(d => d.SourcePath!).Order(StringComparer.Ordinal)];

    private string[] BundleDocuments()
    {
        using var kb = OpenIndex();
        return BundleDocuments(kb);
    }

    /// <summary>Everything a reader sees: the documents with their sources and chunks, and the passages of a few questions.</summary>
    private string Snapshot()
    {
        using var kb = OpenIndex();
        return string.Join('\n', kb.List().Select(d => $"{d.Id} {d.Path} {d.Hash} {d.Chunks} {d.Source} {d.SourcePath} {d.IngestedAt:O}"))
            + "\n" + string.Join('\n', new[] { "capping head clutch torque", "multi-mcu homing endstop", "axis twist compensation", "skew correction" }
                .SelectMany(q => kb.Search(q).Passages.Select(p => $"{p.Path} {p.Score} {p.Text}")));
    }

    private string BundleFolder(string version) => Path.Combine(_options.DataDir, ManualsBundleInstaller.FolderName, Name, version);

    private string[] BundleFolders() =>
        [.. Directory.EnumerateDirectories(Path.Combine(_options.DataDir, ManualsBundleInstaller.FolderName, Name)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    /// <summary>A document ingested with <c>edgellm manuals add</c>'s API, beside the bundle.</summary>
    private async Task<long> IngestOwnAsync()
    {
        using var kb = OpenIndex();
        var result = Assert.Single(await kb.IngestAsync([Path.Combine(TestPaths.RepoRoot, "samples", "manuals", "brightline-bl200.md")]));
        Assert.Equal(IngestStatus.Added, result.Status);
        return result.DocumentId!.Value;
    }

    [Fact]
    public async Task FirstInstall_IndexesTheBundle_TagsItsDocuments_AndTheRunningAgentSearchesIt()
    {
        Assert.False(_manuals.Search("capping head clutch torque").Answerable);
        var events = new RecordingEvents();

        var (result, manifest) = await InstallAsync("1.0.0", V1Files(), events);

        Assert.True(result.Activated, result.Reason);
        Assert.Equal([ActivationStates.Unpacking, ActivationStates.Loading, ActivationStates.Active], events.States);
        Assert.Equal("active: 3 documents: 3 added, 0 updated, 0 unchanged, 0 removed; not manuals, kept but not indexed: LICENSE", events.Texts[^1]);
        using (var kb = OpenIndex())
        {
            Assert.Equal(["Axis_Twist_Compensation.md", "Multi_MCU_Homing.md", "guides/capper.md"], BundleDocuments(kb));
            Assert.Equal(new DocumentSource(Name, "1.0.0", ManualsBundleInstaller.ContentDigest(manifest)), kb.Source(Name));
            Assert.All(kb.List(), d =>
            {
                Assert.Equal(kb.Source(Name), d.Source);
                Assert.Equal(Path.Combine(BundleFolder("1.0.0"), d.SourcePath!), d.Path);
                Assert.True(File.Exists(d.Path), d.Path);
            });
        }

        // The agent's open index (it had searched before) answers from the new manuals on its next question.
        var found = _manuals.Search("capping head clutch torque");
        Assert.True(found.Answerable);
        Assert.Equal("capper.md", found.Passages[0].Document);
        Assert.Contains("12 inch-pounds", found.Passages[0].Text, StringComparison.Ordinal);
        Assert.Contains(_manuals.Search("axis twist compensation").Passages, p => p.Document == "Axis_Twist_Compensation.md");
        Assert.True(File.Exists(Path.Combine(BundleFolder("1.0.0"), "LICENSE")));
    }

    [Fact]
    public async Task NextVersion_IsExactlyTheNewSet_AndDocumentsAddedOtherwiseStay()
    {
        var own = await IngestOwnAsync();
        Assert.True((await InstallAsync("1.0.0", V1Files())).Result.Activated);
        long axisId;
        using (var kb = OpenIndex())
        {
            axisId = kb.List().Single(d => d.SourcePath == "Axis_Twist_Compensation.md").Id;
        }

        Assert.Contains(_manuals.Search("multi-mcu homing endstop").Passages, p => p.Document == "Multi_MCU_Homing.md");

        var (result, _) = await InstallAsync("2.0.0", V2Files());

        Assert.True(result.Activated, result.Reason);
        Assert.Equal("3 documents: 1 added, 1 updated, 1 unchanged, 1 removed", result.Reason);
        using (var kb = OpenIndex())
        {
            Assert.Equal(["Axis_Twist_Compensation.md", "Skew_Correction.md", "guides/capper.md"], BundleDocuments(kb));
            Assert.All(kb.List().Where(d => d.Source is not null), d => Assert.Equal("2.0.0", d.Source!.Version));
            // The unchanged manual kept its row (and chunks): it was not indexed again.
            Assert.Equal(axisId, kb.List().Single(d => d.SourcePath == "Axis_Twist_Compensation.md").Id);
            var brightline = Assert.Single(kb.List(), d => d.Id == own);
            Assert.Null(brightline.Source);
        }

        Assert.Equal(["2.0.0"], BundleFolders());
        Assert.DoesNotContain(_manuals.Search("multi-mcu homing endstop").Passages, p => p.Document == "Multi_MCU_Homing.md");
        Assert.Contains("15 inch-pounds", _manuals.Search("capping head clutch torque").Passages[0].Text, StringComparison.Ordinal);
        Assert.Contains(_manuals.Search("skew correction calibration object").Passages, p => p.Document == "Skew_Correction.md");
        Assert.Equal("brightline-bl200.md", _manuals.Search("What does E-17 mean?").Passages[0].Document);
    }

    [Theory]
    [InlineData("guides/broken.pdf", "PDF")]
    [InlineData("image.md", "binary")]
    public async Task ABundleWithAnUnparseableFile_IsRolledBack_AndTheIndexIsAsBefore(string bad, string words)
    {
        await IngestOwnAsync();
        Assert.True((await InstallAsync("1.0.0", V1Files())).Result.Activated);
        var before = Snapshot();
        var events = new RecordingEvents();
        var files = V2Files().Select(f => (f.Path, System.Text.Encoding.UTF8.GetBytes(f.Text)))
            .Append((bad, bad.EndsWith(".pdf", StringComparison.Ordinal) ? "%PDF-1.4\nthis is not really a pdf\n"u8.ToArray() : [0x89, 0x50, 0x4E, 0x47, 0, 0, 0, 13]))
            .ToArray();
        using var installer = Installer(events);

        var result = await InstallAsync(installer, await StageAsync("2.0.0", files));

        Assert.Equal(ActivationStates.RolledBack, result.State);
        Assert.StartsWith(ManualsBundleInstaller.IndexFailed + ": 1 of 4 files cannot be indexed: ", result.Reason, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(bad), result.Reason, StringComparison.Ordinal);
        Assert.Contains(words, result.Reason, StringComparison.Ordinal);
        Assert.EndsWith("the manuals index is unchanged", result.Reason, StringComparison.Ordinal);
        Assert.Equal("rolled_back: " + result.Reason, events.Texts[^1]);
        Assert.Equal(before, Snapshot());
        Assert.Equal(["1.0.0"], BundleFolders());
        Assert.Contains("12 inch-pounds", _manuals.Search("capping head clutch torque").Passages[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWriteFailureInTheMiddleOfTheTransaction_LeavesTheOldIndex_AndALaterInstallWorks()
    {
        Assert.True((await InstallAsync("1.0.0", V1Files())).Result.Activated);
        var before = Snapshot();
        // The fault: inserting the first new document fails, after the removed manual was deleted and the unchanged one moved.
        using (var db = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                CREATE TRIGGER simulated_disk_full BEFORE INSERT ON documents WHEN NEW.source IS NOT NULL
                BEGIN SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END;
                """;
            cmd.ExecuteNonQuery();
        }

        var (failed, _) = await InstallAsync("2.0.0", V2Files());

        Assert.Equal(ActivationStates.RolledBack, failed.State);
        Assert.Contains("disk is full (simulated)", failed.Reason, StringComparison.Ordinal);
        Assert.Contains("the manuals index is unchanged", failed.Reason, StringComparison.Ordinal);
        _manuals.Refresh();
        Assert.Equal(before, Snapshot());
        Assert.Equal(["1.0.0"], BundleFolders());

        using (var db = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "DROP TRIGGER simulated_disk_full";
            cmd.ExecuteNonQuery();
        }

        Assert.True((await InstallAsync("2.0.0", V2Files())).Result.Activated);
        Assert.Equal(["Axis_Twist_Compensation.md", "Skew_Correction.md", "guides/capper.md"], BundleDocuments());
    }

    [Fact]
    public async Task ACrashBeforeTheCommit_LeavesTheOldIndex_AndTheSameVersionInstallsAfterwards()
    {
        Assert.True((await InstallAsync("1.0.0", V1Files())).Result.Activated);
        var before = Snapshot();

        await Assert.ThrowsAsync<SimulatedCrashException>(() => InstallAsync("2.0.0", V2Files(), new RecordingEvents { CrashAt = ActivationStates.Loading }));

        Assert.Equal(before, Snapshot());
        var (result, _) = await InstallAsync("2.0.0", V2Files());
        Assert.True(result.Activated, result.Reason);
        Assert.Equal(["Axis_Twist_Compensation.md", "Skew_Correction.md", "guides/capper.md"], BundleDocuments());
        Assert.Equal(["2.0.0"], BundleFolders());
    }

    [Fact]
    public async Task ACrashAfterTheCommit_KeepsTheNewIndex_AndTheSameVersionIsThenAlreadyInstalled()
    {
        Assert.True((await InstallAsync("1.0.0", V1Files())).Result.Activated);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => InstallAsync("2.0.0", V2Files(), new RecordingEvents { CrashAt = ActivationStates.Active }));

        Assert.Equal(["Axis_Twist_Compensation.md", "Skew_Correction.md", "guides/capper.md"], BundleDocuments());
        var (again, _) = await InstallAsync("2.0.0", V2Files());
        Assert.Equal((ActivationStates.Active, "already installed"), (again.State, again.Reason));
    }

    [Fact]
    public async Task TheSameVersionAgain_IsANoOp_AndOtherFilesUnderThatVersionAreRefused()
    {
        Assert.True((await InstallAsync("1.0.0", V1Files())).Result.Activated);
        var before = Snapshot();
        var marker = Path.Combine(BundleFolder("1.0.0"), "guides", "capper.md");
        var written = File.GetLastWriteTimeUtc(marker);
        var events = new RecordingEvents();

        var (again, _) = await InstallAsync("1.0.0", V1Files(), events);

        Assert.Equal((ActivationStates.Active, "already installed"), (again.State, again.Reason));
        Assert.Equal(["active: already installed"], events.Texts);
        Assert.Equal(before, Snapshot());
        Assert.Equal(written, File.GetLastWriteTimeUtc(marker));

        var (conflict, _) = await InstallAsync("1.0.0", V2Files());
        Assert.Equal(UpdateStates.Refused, conflict.State);
        Assert.StartsWith(ManualsBundleInstaller.VersionConflict + ":", conflict.Reason, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot());
        Assert.Equal(["1.0.0"], BundleFolders());
    }

    [Fact]
    public async Task AQuestionAskedDuringInstalls_SeesTheWholeOldOrTheWholeNewSet()
    {
        (string Path, string Text)[][] sets = [V1Files(), V2Files()];
        string[][] expected = [["Axis_Twist_Compensation.md", "Multi_MCU_Homing.md", "guides/capper.md"], ["Axis_Twist_Compensation.md", "Skew_Correction.md", "guides/capper.md"]];
        Assert.True((await InstallAsync("1.0.0", sets[0])).Result.Activated);
        var done = 0;
        var seen = new List<(string[] Documents, string[] Versions, string[] SearchVersions)>();
        var reader = Task.Run(() =>
        {
            using var kb = OpenIndex();
            for (var i = 0; i < 5_000 && Volatile.Read(ref done) == 0; i++)
            {
                var docs = kb.List().Where(d => d.Source?.Name == Name).ToList();
                // The agent's own search: every passage from the bundle comes from one version's folder.
                var versions = _manuals.Search("capping head clutch torque axis twist").Passages
                    .Where(p => p.Path.StartsWith(Path.Combine(_options.DataDir, ManualsBundleInstaller.FolderName), StringComparison.Ordinal))
                    .Select(p => Path.GetRelativePath(Path.Combine(_options.DataDir, ManualsBundleInstaller.FolderName, Name), p.Path).Split('/')[0]);
                seen.Add(([.. docs.Select(d => d.SourcePath!).Order(StringComparer.Ordinal)], [.. docs.Select(d => d.Source!.Version).Distinct()], [.. versions.Distinct()]));
            }
        });

        for (var v = 2; v <= 9; v++)
        {
            var (result, _) = await InstallAsync($"{v}.0.0", sets[(v - 1) % 2]);
            Assert.True(result.Activated, result.Reason);
        }

        Volatile.Write(ref done, 1);
        await reader;
        Assert.NotEmpty(seen);
        Assert.All(seen, s =>
        {
            Assert.Contains(expected, e => e.SequenceEqual(s.Documents));
            var version = Assert.Single(s.Versions);
            Assert.Equal(s.Documents.Contains("Skew_Correction.md"), int.Parse(version.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture) % 2 == 0);
            // A search is one read of its own (a commit may fall between it and the listing): its passages share one version.
            Assert.Single(s.SearchVersions);
        });
    }

    [Fact]
    public void TheAgentRegistersTheManualsInstaller()
    {
        var builder = AgentHost.CreateBuilder(new AgentSwitches { DataDir = _options.DataDir, Model = AgentOptions.NoModel });
        using var host = builder.Build();
        var installer = Assert.Single(host.Services.GetServices<IBundleInstaller>(), i => i.Kind == BundleKind.Manuals);
        Assert.IsType<ManualsBundleInstaller>(installer);
    }

    [Fact]
    public void BadIndexOptionsInTheKnowledgeSection_AreRefusedAtStart()
    {
        var builder = AgentHost.CreateBuilder(new AgentSwitches
        {
            DataDir = _options.DataDir,
            Model = AgentOptions.NoModel,
            Settings = new Dictionary<string, string?> { ["Knowledge:ChunkTokens"] = "1" },
        });
        using var host = builder.Build();
        var ex = Assert.Throws<OptionsValidationException>(() => AgentHost.ValidateOptions(host.Services));
        Assert.Contains("ChunkTokens", ex.Message, StringComparison.Ordinal);
    }
}
