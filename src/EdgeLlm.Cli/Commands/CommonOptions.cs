using System.CommandLine;

namespace EdgeLlm.Cli.Commands;

/// <summary>Options that mean the same on every command.</summary>
internal static class CommonOptions
{
    public static Option<bool> Json() => new("--json") { Description = "Machine-readable JSON on stdout (errors as JSON on stderr)." };

    public static Option<string> Model() => new("--model", "-m") { Description = "Model folder (genai_config.json, tokenizer.json, model.onnx).", Required = true };

    public static Option<int> Threads() => new("--threads") { Description = "Intra-op threads for ONNX Runtime (0 = one per physical core).", DefaultValueFactory = _ => 0 };

    public static Option<string> Provider() => new("--provider")
    {
        Description = "Execution provider policy: cpu, prefer-npu, prefer-gpu. NPU/GPU come from --ep-library plugins and fall back to CPU.",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<string[]> EpLibraries() => new("--ep-library")
    {
        Description = "Plugin execution provider library to register, as NAME=PATH (repeatable).",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>The device's data directory; every device-side command and the service agree on it.</summary>
    public static Option<string?> DataDir() => new("--data-dir")
    {
        Description = "Device data directory (agent.db, knowledge.db, models/). Default: the config's Agent:DataDir, else /var/lib/edgellm.",
    };

    /// <summary>The device's configuration file, shared by the service and the tools.</summary>
    public static Option<string?> Config() => new("--config")
    {
        Description = "Configuration file (default /etc/edgellm/agent.json when it exists).",
    };
}
