using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Providers;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Runtime.Tests.Providers;

public sealed class ExecutionProviderSelectorTests
{
    private static readonly SessionConfig NoProviders = new();

    [Fact]
    public void MissingLibrary_IsSkippedWithTheReasonLogged()
    {
        var path = Path.Combine(Path.GetTempPath(), "edgellm-missing-" + Guid.NewGuid().ToString("N"), "libnpu_ep.so");
        AssertSkipped(ProviderPolicy.PreferNpu, path, "does not exist");
    }

    [Fact]
    public void InvalidLibrary_IsSkippedWithTheLoaderError()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir.Path, "libfoo.so");
        File.WriteAllText(path, "this is not a shared library");
        AssertSkipped(ProviderPolicy.PreferGpu, path, "cannot load it as a plugin execution provider library");
    }

    [Fact]
    public void LibraryWithoutTheEntryPoint_IsSkipped()
    {
        // A real shared library that is not an execution provider: ONNX Runtime's own library.
        var ort = Directory.GetFiles(AppContext.BaseDirectory, "libonnxruntime.so", SearchOption.AllDirectories).First();
        AssertSkipped(ProviderPolicy.PreferNpu, ort, "CreateEpFactories");
    }

    /// <summary>The library at <paramref name="path"/> yields no candidate, and one reason naming it, also logged as a warning.</summary>
    private static void AssertSkipped(ProviderPolicy policy, string path, string expected)
    {
        var logger = new ListLogger();
        var plan = ExecutionProviderSelector.Plan(policy, [Library("ep-" + Guid.NewGuid().ToString("N"), path)], NoProviders, logger);

        Assert.Empty(plan.Candidates);
        var reason = Assert.Single(plan.Reasons);
        Assert.Contains(Path.GetFullPath(path), reason, StringComparison.Ordinal);
        Assert.Contains(expected, reason, StringComparison.Ordinal);
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message == reason);
    }

    [Fact]
    public void CpuOnly_DoesNotLoadLibraries()
    {
        var logger = new ListLogger();
        var plan = ExecutionProviderSelector.Plan(ProviderPolicy.CpuOnly, [Library("ignored", "/nonexistent/libignored.so")], NoProviders, logger);
        Assert.Empty(plan.Candidates);
        Assert.Empty(plan.Reasons);
        Assert.DoesNotContain(logger.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public void LibraryWithoutNameOrPath_IsSkippedNamingTheSetting()
    {
        var plan = ExecutionProviderSelector.Plan(ProviderPolicy.PreferNpu, [Library("", "")], NoProviders, new ListLogger());
        Assert.Contains("ExecutionProviderLibraries", Assert.Single(plan.Reasons), StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigProviderMissingFromTheBuild_IsSkippedNamingGenAiConfig()
    {
        var session = new SessionConfig { Providers = [new ProviderConfig("qnn", new Dictionary<string, string> { ["backend_path"] = "libQnnHtp.so" })] };
        var plan = ExecutionProviderSelector.Plan(ProviderPolicy.PreferNpu, [], session, new ListLogger());
        Assert.Empty(plan.Candidates);
        var reason = Assert.Single(plan.Reasons);
        Assert.Contains("'qnn'", reason, StringComparison.Ordinal);
        Assert.Contains("genai_config.json", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void NothingConfigured_PlansTheCpuWithoutComplaint()
    {
        var plan = ExecutionProviderSelector.Plan(ProviderPolicy.PreferNpu, [], new SessionConfig { Providers = [new ProviderConfig("cpu", new Dictionary<string, string>())] }, new ListLogger());
        Assert.Empty(plan.Candidates);
        Assert.Empty(plan.Reasons);
    }

    private static ExecutionProviderLibrary Library(string name, string path) => new() { Name = name, Path = path };
}
