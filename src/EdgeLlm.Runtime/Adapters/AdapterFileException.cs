namespace EdgeLlm.Runtime.Adapters;

/// <summary>
/// An <c>.onnx_adapter</c> file is unreadable, malformed, or does not fit the model it is loaded for.
/// The message names the file (and the parameter or field at fault) and what to do.
/// </summary>
public sealed class AdapterFileException : Exception
{
    public AdapterFileException(string file, string problem)
        : base($"{file}: {problem}")
    {
        File = file;
        Problem = problem;
    }

    public AdapterFileException(string file, string problem, Exception inner)
        : base($"{file}: {problem}", inner)
    {
        File = file;
        Problem = problem;
    }

    /// <summary>The adapter file at fault (full path).</summary>
    public string File { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }
}
