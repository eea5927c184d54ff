using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests;

/// <summary>One tiny synthesized qwen2 model per test run (written in well under a second), shared read-only.</summary>
internal static class TestModels
{
    private static readonly Lazy<string> TinyFolder = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"edgellm-agent-tests-{Environment.ProcessId}", "tiny-qwen2");
        if (!File.Exists(Path.Combine(dir, "genai_config.json")))
        {
            ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", dir, 1));
        }

        return dir;
    });

    public static string Tiny => TinyFolder.Value;

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Generous bound for waiting on a message; tests wait on events, never on time.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public static TempDir NewTempDir() => TestPaths.NewTempDir();
}
