namespace EdgeLlm.Runtime.Providers;

/// <summary>The execution provider a loaded model runs on, and why better-ranked ones were not used.</summary>
/// <param name="Name">The ONNX Runtime name of the provider, e.g. <c>CPUExecutionProvider</c>.</param>
/// <param name="Device">The kind of device it runs on.</param>
/// <param name="FallbackReasons">One line per provider or library that was skipped; empty when nothing was skipped.</param>
public sealed record ActiveProvider(string Name, ProviderDevice Device, IReadOnlyList<string> FallbackReasons)
{
    public const string CpuProviderName = "CPUExecutionProvider";

    public override string ToString() => $"{Name} ({Device})";
}
