using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Knowledge.Tests;

/// <summary>Search behaviour: hostile queries, codes and part numbers, typos, the relevance floor.</summary>
public sealed class RetrievalTests : IAsyncLifetime, IDisposable
{
    private const string Manual = """
        # Printer Service Guide

        ## Hotend temperature

        Use M104 to set the hotend temperature without waiting; M109 waits until it is reached.

        ## Stepper drivers

        The TMC2209 driver talks over a single wire UART. Each driver on the bus needs its own address.

        ## Motion limits

        SET_VELOCITY_LIMIT changes the maximum velocity and acceleration while printing.

        ## Error codes

        Error E-17 means the coolant pump stalled. Clear the intake filter and restart the pump.

        ## Belt tension

        A loose belt causes ringing. Tension the belt until it sounds a low note when plucked, not NEAR the idler.

        ## Extruder

        The extruder gear must grip the filament firmly; clean the gear teeth with a brass brush.
        """;

    private readonly TempDir _dir = TestPaths.NewTempDir();
    private KnowledgeBase _kb = null!;

    public async Task InitializeAsync()
    {
        var path = Path.Combine(_dir.Path, "guide.md");
        await File.WriteAllTextAsync(path, Manual);
        // Filler documents give the words realistic document frequencies.
        for (var i = 0; i < 20; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(_dir.Path, $"filler{i}.md"),
                $"# Filler {i}\n\n## Section {i}\n\nGeneral printer care: keep the frame clean, check cables and fans, section {i}.\n");
        }

        _kb = KnowledgeBase.Open(Path.Combine(_dir.Path, "knowledge.db"));
        Assert.All(await _kb.IngestAsync([_dir.Path]), r => Assert.NotEqual(IngestStatus.Failed, r.Status));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _kb.Dispose();
        _dir.Dispose();
    }

    [Theory]
    [InlineData("\"")]
    [InlineData("\"unbalanced quote")]
    [InlineData("NEAR(belt idler)")]
    [InlineData("belt NEAR/2 idler")]
    [InlineData("*")]
    [InlineData("belt*")]
    [InlineData("-belt")]
    [InlineData("(((")]
    [InlineData(")")]
    [InlineData("AND OR NOT")]
    [InlineData("body: belt")]
    [InlineData("{title headings}: belt")]
    [InlineData("^belt")]
    [InlineData("'; DROP TABLE chunks; --")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("🔧 belt ⚙️")]
    [InlineData("\0belt\u0001")]
    public void HostileQuery_NeitherErrorsNorInjects(string query)
    {
        var results = _kb.Search(query);
        Assert.All(results.Passages, p => Assert.False(string.IsNullOrEmpty(p.Text)));
        Assert.Equal(26, KnowledgeBaseProbe.Count(_kb, "chunks"));
    }

    [Fact]
    public void HostileQuery_OperatorsAreWordsNotSyntax()
    {
        // With FTS5 syntax "belt NOT tension" would exclude the belt section; as words it must find it.
        Assert.Equal("Belt tension", _kb.Search("belt NOT tension").Passages[0].HeadingPath[^1]);
        Assert.Equal("Belt tension", _kb.Search("\"belt\" AND (tension OR NEAR)").Passages[0].HeadingPath[^1]);
        Assert.Equal("Belt tension", _kb.Search("belt -tension").Passages[0].HeadingPath[^1]);
        Assert.Single(_kb.Search(new string('x', 10_000) + " belt tension", 1).Passages);
    }

    [Theory]
    [InlineData("M104", "Hotend temperature")]
    [InlineData("m104 hotend", "Hotend temperature")]
    [InlineData("TMC2209", "Stepper drivers")]
    [InlineData("tmc2209 uart address", "Stepper drivers")]
    [InlineData("SET_VELOCITY_LIMIT", "Motion limits")]
    [InlineData("E-17", "Error codes")]
    [InlineData("E17", "Error codes")]
    [InlineData("display says e-17", "Error codes")]
    public void CodesAndPartNumbers_AreFoundByTheirSection(string query, string heading)
    {
        var results = _kb.Search(query);
        Assert.True(results.Answerable, $"{query}: confidence {results.Confidence}");
        Assert.Equal(heading, results.Passages[0].HeadingPath[^1]);
    }

    [Fact]
    public void PartNumbers_AreNeverCorrectedToANeighbour()
    {
        var results = _kb.Search("TMC2208");
        Assert.DoesNotContain(results.Passages, p => p.HeadingPath[^1] == "Stepper drivers");
        Assert.False(results.Answerable);
    }

    [Fact]
    public void Typos_AreCorrectedToIndexedWords()
    {
        Assert.Equal("Extruder", _kb.Search("extuder gear teeth").Passages[0].HeadingPath[^1]);
        Assert.Equal("Stepper drivers", _kb.Search("steper drivrs").Passages[0].HeadingPath[^1]);
    }

    [Fact]
    public void OffTopicQuestion_IsNotInTheManuals()
    {
        var results = _kb.Search("warranty refund for the touchscreen");
        Assert.False(results.Answerable);
        Assert.True(results.Confidence < _kb.Options.RelevanceFloor);
        Assert.False(_kb.Search("").Answerable);
    }

    [Fact]
    public void Search_ReturnsAtMostKPassagesBestFirst()
    {
        var results = _kb.Search("cables fans", 3);
        Assert.Equal(3, results.Passages.Count);
        Assert.True(results.Passages.Zip(results.Passages.Skip(1)).All(p => p.First.Score >= p.Second.Score));
        Assert.Throws<ArgumentOutOfRangeException>(() => _kb.Search("belt", 0));
    }
}
