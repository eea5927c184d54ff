using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.IntegrationTests.Fleet;

/// <summary>The real `edgellm` executable run as a command (enroll, bundle import, model info).</summary>
internal static class DeviceCli
{
    public static Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args) => RunAsync(args, null);

    /// <summary>Runs `edgellm ARGS`; <paramref name="configure"/> may change the environment first. Bounded to two minutes.</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(IEnumerable<string> args, Action<ProcessStartInfo>? configure)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "device", "edgellm.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        configure?.Invoke(psi);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }
}

/// <summary>Signed model bundles of tiny synthesized models, as a publisher makes them.</summary>
internal sealed class TestPublisher(string folder) : IDisposable
{
    public BundleSigningKey Key { get; } = BundleSigningKey.Generate();

    public string PublicKeyPath
    {
        get
        {
            var path = Path.Combine(folder, "publisher.pub");
            if (!File.Exists(path))
            {
                File.WriteAllText(path, Key.ExportPublicKeyPem());
            }

            return path;
        }
    }

    /// <summary>A smoke test no answer can pass.</summary>
    public static BundleSmokeTest Failing() => new()
    {
        Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 2, ExpectSubstrings = ["\u2603 never generated \u2603"] }],
        TimeoutSeconds = 60,
    };

    public static BundleSmokeTest Passing() => new() { Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 4 }], TimeoutSeconds = 60 };

    /// <summary>Writes <c>NAME-VERSION.edgebundle</c> of a fresh tiny qwen2 int4 model (seed by version).</summary>
    public async Task<string> ModelBundleAsync(string name, string version, BundleSmokeTest? smoke = null)
    {
        var model = Path.Combine(folder, $"model-{name}-{version}");
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", model, version.Sum(c => c)));
        var path = Path.Combine(folder, $"{name}-{version}.edgebundle");
        var file = File.Create(path);
        await using (file)
        {
            var create = new BundleCreateOptions { Kind = BundleKind.Model, Name = name, Version = version, SmokeTest = smoke ?? Passing() };
            await BundleWriter.CreateAsync(create, model, Key, file, TimeProvider.System, CancellationToken.None);
        }

        return path;
    }

    public void Dispose() => Key.Dispose();
}

/// <summary>
/// One device: a data directory, its configuration file (synthesized models allowed, the publisher trusted, quick
/// update and fleet loops, no probation unless asked) and the real agent process with its embedded broker.
/// </summary>
internal sealed class UpdateDevice : IAsyncDisposable
{
    private readonly Dictionary<string, object> _updates;
    private AgentProcess? _agent;

    public UpdateDevice(string root, string id, string trustedKey, Dictionary<string, object>? updates = null)
    {
        Id = id;
        DataDir = Path.Combine(root, id);
        Directory.CreateDirectory(DataDir);
        ConfigPath = Path.Combine(root, id + ".json");
        _updates = new Dictionary<string, object> { ["TrustedKeys"] = new[] { trustedKey }, ["CheckIntervalSeconds"] = 1, ["ProbationAnswers"] = 0 };
        foreach (var (k, v) in updates ?? [])
        {
            _updates[k] = v;
        }

        WriteConfig();
    }

    public string Id { get; }
    public string DataDir { get; }
    public string ConfigPath { get; }
    public int Port { get; } = TestModels.FreePort();
    public AgentProcess? Agent => _agent;

    /// <summary>Changes one <c>Updates</c> setting (for the next start).</summary>
    public void SetUpdates(string key, object? value)
    {
        if (value is null)
        {
            _updates.Remove(key);
        }
        else
        {
            _updates[key] = value;
        }

        WriteConfig();
    }

    /// <summary>`edgellm bundle import` on the stopped device, trusting what its configuration trusts.</summary>
    public async Task ImportAsync(string bundle)
    {
        var (exit, stdout, stderr) = await DeviceCli.RunAsync("bundle", "import", bundle, "--data-dir", DataDir, "--config", ConfigPath);
        Assert.True(exit == 0, $"import of {bundle} into {Id}: {stdout}{stderr}");
    }

    /// <summary>The active slot per `edgellm model info --data-dir D --json`: (name, version), or null.</summary>
    public async Task<(string Name, string Version)?> ActiveSlotAsync()
    {
        var (exit, stdout, stderr) = await DeviceCli.RunAsync("model", "info", "--data-dir", DataDir, "--json");
        Assert.True(exit == 0, stderr);
        using var info = JsonDocument.Parse(stdout);
        return info.RootElement.TryGetProperty("active", out var active) && active.ValueKind == JsonValueKind.Object
            ? (active.GetProperty("name").GetString()!, active.GetProperty("version").GetString()!)
            : null;
    }

    /// <summary>Starts the agent and waits for READY=1.</summary>
    public async Task StartAsync()
    {
        _agent = AgentProcess.Start([
            "--config", ConfigPath, "--data-dir", DataDir, "--device-id", Id, "--broker", "embedded",
            "--broker-port", Port.ToString(CultureInfo.InvariantCulture)]);
        var note = await _agent.NextNotificationAsync();
        Assert.True(note == "READY=1", $"{Id} did not become ready ({note}): {_agent.Stderr}");
    }

    /// <summary>Asks one question over MQTT and returns the answer (the model it names answered it).</summary>
    public async Task<AnswerMessage> AskAsync(string id = "q")
    {
        await using var client = await TestClient.ConnectAsync(Port, Id);
        await client.SubscribeRepliesAsync();
        await client.AskAsync(id, "What does E-17 mean?", maxTokens: 4, stream: false);
        var replies = await client.RepliesUntilFinalAsync(id);
        return Assert.IsType<AnswerMessage>(replies[^1]);
    }

    /// <summary>Stops the agent (SIGTERM) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_agent is { } agent)
        {
            await agent.TerminateAsync();
            await agent.WaitForExitAsync();
            await agent.DisposeAsync();
            _agent = null;
        }
    }

    /// <summary>Waits for the agent process to end by itself (killed by its state script), then forgets it.</summary>
    public async Task<int> WaitForDeathAsync()
    {
        var agent = _agent ?? throw new InvalidOperationException("not started");
        var code = await agent.WaitForExitAsync();
        await agent.DisposeAsync();
        _agent = null;
        return code;
    }

    public async ValueTask DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }
    }

    private void WriteConfig()
    {
        var config = new Dictionary<string, object>
        {
            ["Agent"] = new Dictionary<string, object> { ["AllowSynthesizedModel"] = true, ["MaxTokens"] = 8 },
            ["Updates"] = _updates,
            ["Fleet"] = new Dictionary<string, object> { ["PollIntervalSeconds"] = 1, ["UploadIntervalSeconds"] = 1, ["SampleIntervalSeconds"] = 1 },
        };
        File.WriteAllText(ConfigPath, JsonSerializer.Serialize(config));
    }
}
