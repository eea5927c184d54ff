using System.ComponentModel.DataAnnotations;

namespace EdgeLlm.Runtime.Providers;

/// <summary>
/// An ONNX Runtime plugin execution provider library (a shared library exporting <c>CreateEpFactories</c>),
/// registered with ONNX Runtime when the first model loads.
/// </summary>
public sealed class ExecutionProviderLibrary
{
    /// <summary>The name the library is registered under, e.g. <c>qnn</c>. Must be unique per process.</summary>
    [Required]
    public string Name { get; set; } = "";

    /// <summary>Path to the library file; a relative path is resolved against the working directory.</summary>
    [Required]
    public string Path { get; set; } = "";
}
