namespace EdgeLlm.Runtime.ModelFolders;

/// <summary>
/// A model folder is missing a file or a file has a missing or malformed field.
/// The message always names the file (and the field, where one is at fault) and what to do.
/// </summary>
public sealed class ModelFolderException : Exception
{
    public ModelFolderException(string file, string? field, string problem)
        : base(Format(file, field, problem))
    {
        File = file;
        Field = field;
        Problem = problem;
    }

    public ModelFolderException(string file, string? field, string problem, Exception inner)
        : base(Format(file, field, problem), inner)
    {
        File = file;
        Field = field;
        Problem = problem;
    }

    /// <summary>The file at fault (full path).</summary>
    public string File { get; }

    /// <summary>The JSON path of the field at fault, e.g. <c>model.decoder.head_size</c>; null when the whole file is at fault.</summary>
    public string? Field { get; }

    /// <summary>What is wrong, without the file and field.</summary>
    public string Problem { get; }

    private static string Format(string file, string? field, string problem) =>
        field is null ? $"{file}: {problem}" : $"{file}: field '{field}': {problem}";
}
