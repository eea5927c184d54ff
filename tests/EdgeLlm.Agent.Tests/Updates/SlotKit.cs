using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Storage;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Contracts.Bundles;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>Thrown by <see cref="RecordingEvents"/> to stop an activation the way a crash would.</summary>
internal sealed class SimulatedCrashException(string state) : Exception($"simulated crash at {state}");

/// <summary>Records every event; throws <see cref="SimulatedCrashException"/> at <see cref="CrashAt"/>.</summary>
internal sealed class RecordingEvents : IActivationEvents
{
    private readonly Lock _gate = new();
    private readonly List<ActivationEvent> _events = [];

    public string? CrashAt { get; set; }

    public IReadOnlyList<string> Texts
    {
        get
        {
            lock (_gate)
            {
                return _events.Select(e => e.Text).ToList();
            }
        }
    }

    public IReadOnlyList<string> States => Texts.Select(t => t.Split(':')[0]).ToList();

    public void Report(ActivationEvent e)
    {
        lock (_gate)
        {
            _events.Add(e);
        }

        if (e.State == CrashAt)
        {
            throw new SimulatedCrashException(e.State);
        }
    }
}

/// <summary>A data directory with an installed model <c>base 1.0.0</c> (real tiny synthesized weights) and activators over it.</summary>
internal sealed class SlotKit : IDisposable
{
    public static readonly SlotRef Base = new("base", "1.0.0");

    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly List<IDisposable> _owned = [];
    private int _staged;

    public SlotKit(int probationAnswers = 0, bool installBase = true, int loraRank = 0)
    {
        Agent = new AgentOptions { DataDir = _dir.Path, AllowSynthesizedModel = true, MaxTokens = 16 };
        Update = new ModelUpdateOptions { ProbationAnswers = probationAnswers };
        Slots = new ModelSlots(_dir.Path);
        if (installBase)
        {
            Synthesize(Slots.PathOf(Base), seed: 1, loraRank);
            Slots.SetLink(ModelSlots.ActiveLink, Base);
            Slots.WriteState(new SlotState { Active = Base });
        }

        Active = NewActiveModel();
        Activator = NewActivator(Active, Events);
    }

    public AgentOptions Agent { get; }
    public ModelUpdateOptions Update { get; }
    public ModelSlots Slots { get; }
    public RecordingEvents Events { get; } = new();
    public ActiveModel Active { get; }
    public ModelActivator Activator { get; }

    public string DataDir => _dir.Path;

    /// <summary>A tiny qwen2 int4 model; with <paramref name="loraRank"/> &gt; 0 it has the LoRA inputs adapters replace.</summary>
    public static void Synthesize(string folder, int seed, int loraRank = 0) =>
        ModelSynthesizer.Synthesize(new SynthesisOptions("qwen2", "tiny", "int4", folder, seed, loraRank));

    /// <summary>A smoke test that any model passes.</summary>
    public static BundleSmokeTest Passing() => new() { Prompts = [new BundleSmokePrompt { Prompt = "Say OK", MaxTokens = 4 }], TimeoutSeconds = 60 };

    /// <summary>A verified, unpacked model in <c>staging/</c>, as the bundle reader leaves it.</summary>
    public ModelCandidate Stage(string name, string version, BundleSmokeTest? smoke = null, int seed = 2)
    {
        var folder = Path.Combine(_dir.Path, "staging", $"unpacked-{++_staged}");
        Synthesize(folder, seed);
        return new ModelCandidate(folder, name, version, smoke ?? Passing());
    }

    public ActiveModel NewActiveModel()
    {
        var active = new ActiveModel(Options.Create(Agent), NullLogger<ActiveModel>.Instance) { RetireGrace = TimeSpan.Zero };
        _owned.Add(active);
        return active;
    }

    public ModelActivator NewActivator(ActiveModel active, IActivationEvents events, TimeProvider? time = null)
    {
        var activator = new ModelActivator(
            active,
            new AgentModelLoader(Options.Create(Agent), NullLogger<AgentModelLoader>.Instance),
            events,
            Options.Create(Agent),
            Options.Create(Update),
            time ?? TimeProvider.System,
            NullLogger<ModelActivator>.Instance);
        _owned.Add(activator);
        return activator;
    }

    /// <summary>A fresh agent start on the same data directory: recovery, then the model load of <see cref="ActiveModel"/>.</summary>
    public async Task<ActiveModel> RestartAsync() => (await RestartWithActivatorAsync()).Active;

    public async Task<(ActiveModel Active, ModelActivator Activator)> RestartWithActivatorAsync()
    {
        var active = NewActiveModel();
        var activator = NewActivator(active, new RecordingEvents());
        activator.Recover();
        await active.StartingAsync(CancellationToken.None);
        return (active, activator);
    }

    public SlotRef? ActiveLink => Slots.ReadLink(ModelSlots.ActiveLink);
    public SlotRef? PreviousLink => Slots.ReadLink(ModelSlots.PreviousLink);

    /// <summary>An answer from whatever model is active now.</summary>
    public static async Task<TextCompletion> AnswerAsync(ActiveModel active)
    {
        using var lease = active.Acquire() ?? throw new InvalidOperationException("no model is active");
        return await lease.Model.CompleteAsync(new TextRequest { PromptIds = lease.Model.EncodeRaw("Hello"), Options = new() { MaxNewTokens = 4, DoSample = false } });
    }

    public static QueryLogEntry Outcome(string outcome) => new(DateTimeOffset.UnixEpoch, "r", "chat", "q", "a", outcome, 1, 1, 1);

    public void Dispose()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }

        _dir.Dispose();
    }
}
