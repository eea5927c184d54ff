using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Hosting;

/// <summary>The <c>Agent</c> section: who the device is, where its data lives, how questions are served.</summary>
internal sealed class AgentOptions
{
    public const string Section = "Agent";

    /// <summary>The value of <see cref="Model"/> that runs the agent without a model (retrieval-only).</summary>
    public const string NoModel = "none";

    /// <summary>The device's id, one MQTT topic level. Default: the host name.</summary>
    [Required]
    [RegularExpression(@"^[^/+#\s]{1,64}$", ErrorMessage = "must be 1 to 64 characters without '/', '+', '#' or spaces")]
    public string DeviceId { get; set; } = DefaultDeviceId();

    /// <summary>The data directory (agent.db, models/). Default /var/lib/edgellm.</summary>
    [Required]
    public string DataDir { get; set; } = "/var/lib/edgellm";

    /// <summary>
    /// A model folder, or <c>none</c> for retrieval-only mode. Default null: <c>models/active</c> in the data directory
    /// when it exists (a synthesized one only with <see cref="AllowSynthesizedModel"/>), else retrieval-only.
    /// </summary>
    public string? Model { get; set; }

    /// <summary>Serve a synthesized (random-weight) model found in <c>models/active</c>. Default false: its answers are noise.</summary>
    public bool AllowSynthesizedModel { get; set; }

    /// <summary>Intra-op threads of ONNX Runtime. Default 0: one per core.</summary>
    [Range(0, 1024)]
    public int Threads { get; set; }

    /// <summary>Largest <c>ask</c> payload in bytes; larger ones get <c>invalid_request</c>. Default 65536.</summary>
    [Range(256, 16 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Accepted asks not yet handed to the model's scheduler; more get <c>busy</c>. Default 64.</summary>
    [Range(1, 100_000)]
    public int InboxCapacity { get; set; } = 64;

    /// <summary>Requests that may wait for the model; one more gets <c>busy</c>. Default 8.</summary>
    [Range(0, 10_000)]
    public int QueueCapacity { get; set; } = 8;

    /// <summary>Requests the model runs at once. Default 1.</summary>
    [Range(1, 64)]
    public int MaxConcurrency { get; set; } = 1;

    /// <summary>Longest time a request may take, queue wait included, before it ends with <c>timeout</c>. Default 120 s.</summary>
    [Range(1, 3600)]
    public int RequestTimeoutSeconds { get; set; } = 120;

    /// <summary>On stop, how long in-flight answers may still run before they are cancelled. Default 10 s.</summary>
    [Range(0, 600)]
    public int ShutdownGraceSeconds { get; set; } = 10;

    /// <summary>Most tokens of an answer when the ask sets none (and the cap on what it sets). Default 512.</summary>
    [Range(1, 32_768)]
    public int MaxTokens { get; set; } = 512;

    /// <summary>Sampling temperature when the ask sets none; 0 is greedy. Default 0.2.</summary>
    [Range(0.0, 2.0)]
    public double Temperature { get; set; } = 0.2;

    /// <summary>The system prompt. Default: demands answers grounded in the given context, with citations.</summary>
    [Required]
    public string SystemPrompt { get; set; } =
        "You are the assistant of an industrial device, answering its operators. Answer only from the context below " +
        "(manual passages marked [1], [2], … and sensor readings). Cite the passages you use by their marks. " +
        "If the context does not contain the answer, say that you do not know. Be brief.";

    /// <summary>Keep a query log in agent.db (on the device only). Default true.</summary>
    public bool QueryLog { get; set; } = true;

    /// <summary>Query log entries older than this many days are deleted. Default 30.</summary>
    [Range(1, 3650)]
    public int QueryLogRetentionDays { get; set; } = 30;

    /// <summary>The query log keeps at most this many entries (the oldest go first). Default 10000.</summary>
    [Range(10, 10_000_000)]
    public int QueryLogMaxEntries { get; set; } = 10_000;

    /// <summary>Where <see cref="Model"/> points when it is not set.</summary>
    public string ActiveModelPath => Path.Combine(DataDir, "models", "active");

    public static string DefaultDeviceId()
    {
        var name = Environment.MachineName.ToLowerInvariant();
        return string.IsNullOrEmpty(name) ? "edgellm" : name;
    }
}

[OptionsValidator]
internal sealed partial class AgentOptionsValidator : IValidateOptions<AgentOptions>;
