namespace EdgeLlm.Agent.Updates;

/// <summary>The states an update passes through, as the fleet and the <c>events</c> topic show them.</summary>
internal static class ActivationStates
{
    /// <summary>Checking the bundle's signature and hashes (reported by the code that reads the bundle).</summary>
    public const string Verifying = "verifying";

    public const string Unpacking = "unpacking";
    public const string Loading = "loading";
    public const string LoadFailed = "load_failed";
    public const string SmokeTest = "smoke_test";
    public const string SmokeTestFailed = "smoke_test_failed";

    /// <summary>The new model serves; for the first answers it is on probation.</summary>
    public const string Active = "active";

    /// <summary>The new model passed probation and the slot before the previous one was deleted.</summary>
    public const string Committed = "committed";

    /// <summary>The update was undone: the model that served before serves again (or, on a first install, none).</summary>
    public const string RolledBack = "rolled_back";
}

/// <summary>One step of an update; <see cref="Text"/> is the wire form (<c>smoke_test_failed: no answer contains "OK"</c>).</summary>
internal sealed record ActivationEvent(string Name, string Version, string State, string? Reason, DateTimeOffset At)
{
    public string Text => Reason is null ? State : State + ": " + Reason;
}

/// <summary>
/// Where an activation reports its steps (the fleet's reported state and the <c>events</c> topic are wired to it).
/// Called on the activation's own flow, before the step's work starts: an exception thrown here ends the activation
/// as a crash at that step would (no clean-up on disk), which is what the crash-safety tests use.
/// </summary>
internal interface IActivationEvents
{
    void Report(ActivationEvent e);
}

/// <summary>Keeps the latest event (for status) and lets others subscribe; the default sink.</summary>
internal sealed class ActivationEventLog : IActivationEvents
{
    private ActivationEvent? _latest;

    /// <summary>The last event reported, or null before any update.</summary>
    public ActivationEvent? Latest => Volatile.Read(ref _latest);

    /// <summary>Raised for every event (the MQTT events topic and the fleet's reported state subscribe here).</summary>
    public event Action<ActivationEvent>? Reported;

    public void Report(ActivationEvent e)
    {
        Volatile.Write(ref _latest, e);
        Reported?.Invoke(e);
    }
}
