using Microsoft.ML.OnnxRuntime;

namespace EdgeLlm.Runtime.Providers;

/// <summary>An execution provider to try when creating a session, with the call that appends it to the session options.</summary>
internal sealed class ProviderCandidate(string name, ProviderDevice device, Action<SessionOptions> append)
{
    public string Name { get; } = name;

    public ProviderDevice Device { get; } = device;

    public void AppendTo(SessionOptions options) => append(options);

    public override string ToString() => $"{Name} ({Device})";
}

/// <summary>The providers to try in order (the CPU comes last, implicitly) and the reasons others were left out.</summary>
internal sealed class ProviderPlan(IReadOnlyList<ProviderCandidate> candidates, IReadOnlyList<string> reasons)
{
    public IReadOnlyList<ProviderCandidate> Candidates { get; } = candidates;

    public IReadOnlyList<string> Reasons { get; } = reasons;
}
