namespace EdgeLlm.Knowledge.Documents;

/// <summary>Plain text: paragraphs are separated by blank lines; there are no headings, the title is the file name.</summary>
internal static class PlainTextReader
{
    public static ParsedDocument Read(string source, string title)
    {
        var blocks = new List<DocumentBlock>();
        var pos = 0;
        while (pos < source.Length)
        {
            var end = NextBlankLine(source, pos);
            var text = source[pos..end].Trim();
            if (text.Length > 0)
            {
                blocks.Add(new DocumentBlock([], BlockKind.Paragraph, TextUtil.Collapse(text), null, pos, end));
            }

            pos = end + 1;
        }

        return new ParsedDocument(title, "text", blocks);
    }

    private static int NextBlankLine(string s, int from)
    {
        for (var i = s.IndexOf('\n', from); i >= 0 && i < s.Length; i = s.IndexOf('\n', i + 1))
        {
            var j = i + 1;
            while (j < s.Length && s[j] is ' ' or '\t' or '\r')
            {
                j++;
            }

            if (j >= s.Length || s[j] == '\n')
            {
                return j >= s.Length ? s.Length : j;
            }
        }

        return s.Length;
    }
}
