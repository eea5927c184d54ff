using System.Text.Json;
using CliRunner = EdgeLlm.Cli.Tests.Cli;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Knowledge.Tests;

/// <summary>`edgellm manuals …` through the real executable: exit codes, the JSON shapes scripts rely on, errors.</summary>
public sealed class ManualsCliTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    private string DataDir => Path.Combine(_dir.Path, "data");

    private string WriteManuals()
    {
        var folder = Path.Combine(_dir.Path, "manuals");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "press.md"), "# Press Manual\n\n## Hydraulics\n\nBleed the hydraulic circuit after replacing the pump seal.\n");
        File.WriteAllText(Path.Combine(folder, "saw.html"), TestDocuments.Html);
        return folder;
    }

    [Fact]
    public async Task AddListSearchRemove_RoundTripThroughTheExecutable()
    {
        var folder = WriteManuals();
        var add = await CliRunner.RunAsync("manuals", "add", folder, "--data-dir", DataDir);
        Assert.True(add.ExitCode == 0, add.Stderr);
        Assert.Contains("2 added", add.Stdout, StringComparison.Ordinal);
        Assert.Contains("0 errors", add.Stdout, StringComparison.Ordinal);
        Assert.Contains("2/2", add.Stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(DataDir, "knowledge.db")));

        var docs = (await CliRunner.RunAsync("manuals", "list", "--json", "--data-dir", DataDir)).Json().GetProperty("documents");
        Assert.Equal(["press.md", "saw.html"], docs.EnumerateArray().Select(d => d.GetProperty("document").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(docs.EnumerateArray(), d => Assert.Equal(JsonValueKind.Null, d.GetProperty("source").ValueKind));

        var found = (await CliRunner.RunAsync("manuals", "search", "bleed hydraulic circuit", "--k", "2", "--json", "--data-dir", DataDir)).Json();
        Assert.Equal(["results", "answerable"], found.EnumerateObject().Select(p => p.Name));
        Assert.True(found.GetProperty("answerable").GetBoolean());
        var top = found.GetProperty("results")[0];
        Assert.Equal(["document", "title", "path", "heading", "page", "score", "text"], top.EnumerateObject().Select(p => p.Name));
        Assert.Equal("press.md", top.GetProperty("document").GetString());
        Assert.Equal("Press Manual", top.GetProperty("title").GetString());
        Assert.Equal(Path.Combine(folder, "press.md"), top.GetProperty("path").GetString());
        Assert.Equal("Press Manual > Hydraulics", top.GetProperty("heading").GetString());
        Assert.Equal(JsonValueKind.Null, top.GetProperty("page").ValueKind);
        Assert.InRange(top.GetProperty("score").GetDouble(), 0.0, 1.0);
        Assert.InRange(found.GetProperty("results").GetArrayLength(), 1, 2);

        var text = await CliRunner.RunAsync("manuals", "search", "bleed hydraulic circuit", "--data-dir", DataDir);
        Assert.Contains("[1] press.md, \"Hydraulics\"", text.Stdout, StringComparison.Ordinal);

        var id = docs.EnumerateArray().First(d => d.GetProperty("document").GetString() == "press.md").GetProperty("id").GetInt64();
        var remove = await CliRunner.RunAsync("manuals", "remove", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", DataDir);
        Assert.True(remove.ExitCode == 0, remove.Stderr);
        var again = await CliRunner.RunAsync("manuals", "remove", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", DataDir);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"no document with id {id}", again.Stderr, StringComparison.Ordinal);
        var after = (await CliRunner.RunAsync("manuals", "search", "bleed hydraulic circuit", "--json", "--data-dir", DataDir)).Json();
        Assert.DoesNotContain(after.GetProperty("results").EnumerateArray(), r => r.GetProperty("document").GetString() == "press.md");
    }

    [Fact]
    public async Task Add_WithABadFile_ReportsItExitsNonZeroAndKeepsTheRest()
    {
        var folder = WriteManuals();
        File.WriteAllBytes(Path.Combine(folder, "scan.pdf"), TestDocuments.ScannedPdf());
        var missing = Path.Combine(_dir.Path, "nope.md");
        var add = await CliRunner.RunAsync("manuals", "add", folder, missing, "--data-dir", DataDir, "--json");
        Assert.Equal(1, add.ExitCode);
        using var summary = JsonDocument.Parse(add.Stdout);
        Assert.Equal(2, summary.RootElement.GetProperty("documents").GetInt32());
        Assert.Equal(2, summary.RootElement.GetProperty("errors").GetInt32());
        var errors = summary.RootElement.GetProperty("files").EnumerateArray().Where(f => f.GetProperty("status").GetString() == "failed")
            .Select(f => f.GetProperty("error").GetString()!).ToList();
        Assert.Contains(errors, e => e.Contains("scan.pdf", StringComparison.Ordinal) && e.Contains("no text layer", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("nope.md", StringComparison.Ordinal) && e.Contains("no such file", StringComparison.Ordinal));

        var text = await CliRunner.RunAsync("manuals", "add", folder, "--data-dir", DataDir);
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("2 unchanged", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("edgellm: ", text.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_HostileQueryAndUnanswerableQuestion_AreOrdinaryResults()
    {
        await CliRunner.RunAsync("manuals", "add", WriteManuals(), "--data-dir", DataDir);
        var hostile = (await CliRunner.RunAsync("manuals", "search", "\"pump\" NEAR(seal* -bleed) OR (", "--json", "--data-dir", DataDir)).Json();
        Assert.True(hostile.GetProperty("results").GetArrayLength() > 0);
        var off = (await CliRunner.RunAsync("manuals", "search", "warranty refund phone number", "--json", "--data-dir", DataDir)).Json();
        Assert.False(off.GetProperty("answerable").GetBoolean());
        var offText = await CliRunner.RunAsync("manuals", "search", "warranty refund phone number", "--data-dir", DataDir);
        Assert.Equal("not in the manuals", offText.Stdout.Trim());
        var badK = await CliRunner.RunAsync("manuals", "search", "pump", "--k", "0", "--data-dir", DataDir);
        Assert.Equal(1, badK.ExitCode);
        Assert.Contains("--k", badK.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Add_WithModelTokenizerAndConfig_UsesTheirBudget()
    {
        var folder = Path.Combine(_dir.Path, "long");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "long.md"), "# Long\n\n## Procedure\n\n" + string.Join(' ', Enumerable.Range(1, 80).Select(i => $"Step {i} tightens bolt {i} to the listed torque.")) + "\n");
        var config = Path.Combine(_dir.Path, "agent.json");
        File.WriteAllText(config, """{ "Knowledge": { "ChunkTokens": 64, "OverlapTokens": 0 } }""");
        var add = await CliRunner.RunAsync("manuals", "add", folder, "--data-dir", DataDir, "--config", config, "--tokenizer", TestPaths.RealTokenizer("qwen3"), "--json");
        using var summary = JsonDocument.Parse(add.Stdout);
        Assert.True(add.ExitCode == 0, add.Stderr);
        // 80 sentences of ~11 tokens at 64 tokens a chunk.
        Assert.InRange(summary.RootElement.GetProperty("chunks").GetInt32(), 12, 20);

        File.WriteAllText(config, """{ "Knowledge": { "ChunkTokens": 5 } }""");
        var bad = await CliRunner.RunAsync("manuals", "list", "--data-dir", DataDir, "--config", config);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("ChunkTokens", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_ShowsTheBundleEachDocumentCameFrom()
    {
        var folder = WriteManuals();
        using (var kb = KnowledgeBase.Open(Path.Combine(DataDir, KnowledgeBase.FileName)))
        {
            Assert.True((await kb.ReplaceSourceAsync(new DocumentSource("press-docs", "1.2.0", "abc"), folder)).Replaced);
        }

        var docs = (await CliRunner.RunAsync("manuals", "list", "--json", "--data-dir", DataDir)).Json().GetProperty("documents");
        var press = docs.EnumerateArray().Single(d => d.GetProperty("document").GetString() == "press.md").GetProperty("source");
        Assert.Equal(("press-docs", "1.2.0", "abc", "press.md"),
            (press.GetProperty("name").GetString(), press.GetProperty("version").GetString(), press.GetProperty("digest").GetString(), press.GetProperty("path").GetString()));
        var text = await CliRunner.RunAsync("manuals", "list", "--data-dir", DataDir);
        Assert.Contains("Press Manual  [press-docs 1.2.0]", text.Stdout, StringComparison.Ordinal);
    }
}
