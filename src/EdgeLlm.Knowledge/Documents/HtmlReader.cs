using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace EdgeLlm.Knowledge.Documents;

/// <summary>Reads HTML with AngleSharp: h1–h6 become the heading path; navigation, scripts and styles are left out.</summary>
internal static class HtmlReader
{
    private static readonly HashSet<string> Skipped = new(StringComparer.OrdinalIgnoreCase)
    {
        "script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "button", "form",
    };

    private static readonly HashSet<string> Leaf = new(StringComparer.OrdinalIgnoreCase)
    {
        "p", "dt", "dd", "figcaption", "caption", "summary", "address",
    };

    public static ParsedDocument Read(string source, string fallbackTitle)
    {
        var parser = new HtmlParser(new HtmlParserOptions { IsKeepingSourceReferences = true });
        using var doc = parser.ParseDocument(source);
        var headings = new HeadingStack();
        var blocks = new List<DocumentBlock>();
        var h1 = doc.QuerySelector("h1")?.TextContent;
        var title = TextUtil.Collapse(doc.Title ?? "");
        if (title.Length == 0)
        {
            title = TextUtil.Collapse(h1 ?? "");
        }

        if (doc.Body is not null)
        {
            Walk(doc.Body, headings, blocks, source.Length);
        }

        return new ParsedDocument(title.Length == 0 ? fallbackTitle : title, "html", blocks);
    }

    private static void Walk(IElement element, HeadingStack headings, List<DocumentBlock> blocks, int sourceLength)
    {
        var loose = new StringBuilder();
        var looseStart = -1;
        foreach (var node in element.ChildNodes)
        {
            if (node is IText text)
            {
                if (!string.IsNullOrWhiteSpace(text.Data))
                {
                    looseStart = looseStart < 0 ? Start(element) : looseStart;
                    loose.Append(text.Data).Append(' ');
                }

                continue;
            }

            if (node is not IElement child || Skipped.Contains(child.LocalName))
            {
                continue;
            }

            var name = child.LocalName;
            if (name.Length == 2 && name[0] == 'h' && name[1] is >= '1' and <= '6')
            {
                Flush(loose, ref looseStart, headings, blocks);
                headings.Push(name[1] - '0', child.TextContent);
                continue;
            }

            var (kind, body) = name switch
            {
                "pre" => (BlockKind.Code, child.TextContent.Trim('\n')),
                "table" => (BlockKind.Table, TableText(child)),
                "ul" or "ol" or "dl" => (BlockKind.List, ListText(child)),
                _ when Leaf.Contains(name) => (BlockKind.Paragraph, TextUtil.Collapse(child.TextContent)),
                _ => (BlockKind.Paragraph, (string?)null),
            };
            if (body is null)
            {
                // Inline markup (a, b, code, span) belongs to the running paragraph; containers are walked.
                if (IsInline(name))
                {
                    looseStart = looseStart < 0 ? Start(child) : looseStart;
                    loose.Append(child.TextContent).Append(' ');
                }
                else
                {
                    Flush(loose, ref looseStart, headings, blocks);
                    Walk(child, headings, blocks, sourceLength);
                }

                continue;
            }

            Flush(loose, ref looseStart, headings, blocks);
            if (!string.IsNullOrWhiteSpace(body))
            {
                var start = Start(child);
                blocks.Add(new DocumentBlock(headings.Current, kind, body, null, start, Math.Min(sourceLength, start + child.OuterHtml.Length)));
            }
        }

        Flush(loose, ref looseStart, headings, blocks);
    }

    private static void Flush(StringBuilder loose, ref int start, HeadingStack headings, List<DocumentBlock> blocks)
    {
        var text = TextUtil.Collapse(loose.ToString());
        if (text.Length > 0)
        {
            blocks.Add(new DocumentBlock(headings.Current, BlockKind.Paragraph, text, null, start, start + text.Length));
        }

        loose.Clear();
        start = -1;
    }

    private static int Start(IElement e) => e.SourceReference?.Position.Index ?? 0;

    private static bool IsInline(string name) => name is "a" or "b" or "i" or "em" or "strong" or "code" or "span" or "kbd"
        or "small" or "sub" or "sup" or "br" or "abbr" or "mark" or "u" or "s" or "var" or "samp" or "time" or "img";

    private static string TableText(IElement table)
    {
        var sb = new StringBuilder();
        foreach (var row in table.QuerySelectorAll("tr"))
        {
            sb.Append("| ").AppendJoin(" | ", row.Children.Where(c => c.LocalName is "td" or "th").Select(c => TextUtil.Collapse(c.TextContent)))
                .Append(" |\n");
        }

        return sb.ToString().TrimEnd();
    }

    private static string ListText(IElement list)
    {
        var sb = new StringBuilder();
        foreach (var item in list.Children)
        {
            var text = TextUtil.Collapse(item.TextContent);
            if (text.Length > 0)
            {
                sb.Append(item.LocalName == "dt" ? "" : "- ").Append(text).Append('\n');
            }
        }

        return sb.ToString().TrimEnd();
    }
}
