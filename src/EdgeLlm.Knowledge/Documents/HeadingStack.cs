namespace EdgeLlm.Knowledge.Documents;

/// <summary>The current heading path while walking a document: a heading of level n replaces levels n and below.</summary>
internal sealed class HeadingStack
{
    private readonly List<(int Level, string Text)> _stack = [];
    private IReadOnlyList<string> _current = [];

    public IReadOnlyList<string> Current => _current;

    public void Push(int level, string text)
    {
        text = TextUtil.Collapse(text);
        if (text.Length == 0)
        {
            return;
        }

        _stack.RemoveAll(h => h.Level >= level);
        _stack.Add((level, text));
        _current = _stack.Select(h => h.Text).ToArray();
    }
}
