namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>
/// A chat template could not be rendered: a runtime error, or the template itself refused the conversation
/// through <c>raise_exception</c> (for example "Conversation roles must alternate"). The message names the
/// template's source (file and field) and the line.
/// </summary>
public class ChatTemplateException : Exception
{
    public ChatTemplateException(string sourceName, int line, string problem, Exception? inner = null)
        : base($"{sourceName}: line {line}: {problem}", inner)
    {
        SourceName = sourceName;
        Line = line;
        Problem = problem;
    }

    /// <summary>Where the template came from, e.g. <c>/models/x/tokenizer_config.json (chat_template)</c>.</summary>
    public string SourceName { get; }

    /// <summary>The 1-based line of the template where the problem is.</summary>
    public int Line { get; }

    /// <summary>What went wrong, without the source and line; for raise_exception, the template's own message.</summary>
    public string Problem { get; }
}

/// <summary>The template text is not valid Jinja (or uses a tag chat templates cannot use).</summary>
public sealed class ChatTemplateSyntaxException(string sourceName, int line, string problem)
    : ChatTemplateException(sourceName, line, "template syntax error: " + problem);
