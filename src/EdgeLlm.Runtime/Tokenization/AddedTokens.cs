namespace EdgeLlm.Runtime.Tokenization;

/// <summary>One entry of tokenizer.json's <c>added_tokens</c>.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip, bool SingleWord, bool Normalized);

/// <summary>
/// Finds added tokens in text before the model sees it: at each position the longest token that starts
/// there wins (leftmost-longest, as Hugging Face does), honouring lstrip/rstrip/single_word.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Node root = new();

    public AddedTokenSplitter(IEnumerable<(string Key, AddedToken Token)> tokens)
    {
        foreach (var (key, token) in tokens)
        {
            if (key.Length == 0)
            {
                continue;
            }

            var node = root;
            foreach (var c in key)
            {
                node.Children ??= [];
                if (!node.Children.TryGetValue(c, out var child))
                {
                    child = new Node();
                    node.Children[c] = child;
                }

                node = child;
            }

            node.Token ??= token;
            node.Length = key.Length;
        }
    }

    public bool IsEmpty => root.Children is null;

    /// <summary>Appends text stretches (Token null) and added tokens in order; stretches may be empty.</summary>
    public void Split(string text, List<(string Text, AddedToken? Token)> output)
    {
        if (root.Children is null)
        {
            output.Add((text, null));
            return;
        }

        var first = output.Count;
        var start = 0;
        var i = 0;
        while (i < text.Length)
        {
            var (token, length) = LongestAt(text, i);
            if (token is null)
            {
                i++;
                continue;
            }

            output.Add((text[start..i], null));
            output.Add((text.Substring(i, length), token));
            i += length;
            start = i;
        }

        output.Add((text[start..], null));

        // lstrip/rstrip swallow the whitespace next to the token.
        for (var k = first; k < output.Count; k++)
        {
            if (output[k].Token is not { } t)
            {
                continue;
            }

            if (t.LStrip && k > first && output[k - 1].Token is null)
            {
                output[k - 1] = (output[k - 1].Text.TrimEnd(), null);
            }

            if (t.RStrip && k + 1 < output.Count && output[k + 1].Token is null)
            {
                output[k + 1] = (output[k + 1].Text.TrimStart(), null);
            }
        }
    }

    private (AddedToken? Token, int Length) LongestAt(string text, int i)
    {
        AddedToken? best = null;
        var bestLength = 0;
        var node = root;
        for (var j = i; j < text.Length && node.Children is not null && node.Children.TryGetValue(text[j], out var next); j++)
        {
            node = next;
            if (node.Token is { } t && (!t.SingleWord || IsWholeWord(text, i, node.Length)))
            {
                best = t;
                bestLength = node.Length;
            }
        }

        return (best, bestLength);
    }

    private static bool IsWholeWord(string text, int start, int length)
    {
        static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
        return (start == 0 || !IsWordChar(text[start - 1])) && (start + length >= text.Length || !IsWordChar(text[start + length]));
    }

    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedToken? Token;
        public int Length;
    }
}
