using System.Text;
using Markdig;
using Markdig.Extensions.Tables;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace EdgeLlm.Knowledge.Documents;

/// <summary>Reads Markdown with Markdig: headings become the heading path, inline markup becomes plain text.</summary>
internal static class MarkdownReader
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UsePipeTables().UseYamlFrontMatter().Build();

    public static ParsedDocument Read(string source, string fallbackTitle)
    {
        var doc = Markdown.Parse(source, Pipeline);
        var headings = new HeadingStack();
        var blocks = new List<DocumentBlock>();
        string? title = null;
        foreach (var block in doc)
        {
            if (block is HeadingBlock heading)
            {
                var text = InlineText(heading.Inline);
                title ??= heading.Level == 1 ? TextUtil.Collapse(text) : null;
                headings.Push(heading.Level, text);
                continue;
            }

            var (kind, body) = Render(block, source);
            if (!string.IsNullOrWhiteSpace(body))
            {
                blocks.Add(new DocumentBlock(headings.Current, kind, body.Trim(), null, block.Span.Start, block.Span.End + 1));
            }
        }

        return new ParsedDocument(string.IsNullOrEmpty(title) ? fallbackTitle : title, "markdown", blocks);
    }

    private static (BlockKind Kind, string Text) Render(Block block, string source) => block switch
    {
        ParagraphBlock p => (BlockKind.Paragraph, TextUtil.Collapse(InlineText(p.Inline))),
        // Tables keep their pipes: rows and columns are the meaning.
        Table t => (BlockKind.Table, source.Substring(t.Span.Start, Math.Min(t.Span.Length, source.Length - t.Span.Start))),
        CodeBlock c and not Markdig.Extensions.Yaml.YamlFrontMatterBlock => (BlockKind.Code, c.Lines.ToString()),
        ListBlock l => (BlockKind.List, ListText(l, source, 0)),
        QuoteBlock q => (BlockKind.Paragraph, string.Join('\n', q.Select(b => Render(b, source).Text))),
        _ => (BlockKind.Paragraph, ""),
    };

    private static string ListText(ListBlock list, string source, int depth)
    {
        var sb = new StringBuilder();
        foreach (var item in list.OfType<ListItemBlock>())
        {
            var first = true;
            foreach (var child in item)
            {
                if (child is ListBlock nested)
                {
                    sb.Append(ListText(nested, source, depth + 1));
                    continue;
                }

                var text = Render(child, source).Text.Trim();
                if (text.Length == 0)
                {
                    continue;
                }

                sb.Append(' ', depth * 2).Append(first ? "- " : "  ").Append(text).Append('\n');
                first = false;
            }
        }

        return sb.ToString();
    }

    internal static string InlineText(ContainerInline? container)
    {
        var sb = new StringBuilder();
        Append(container, sb);
        return sb.ToString();
    }

    private static void Append(Inline? inline, StringBuilder sb)
    {
        switch (inline)
        {
            case null:
                return;
            case LiteralInline lit:
                sb.Append(lit.Content.AsSpan());
                break;
            case CodeInline code:
                sb.Append(code.Content);
                break;
            case AutolinkInline auto:
                sb.Append(auto.Url);
                break;
            case HtmlEntityInline entity:
                sb.Append(entity.Transcoded.AsSpan());
                break;
            case LineBreakInline:
                sb.Append(' ');
                break;
            case ContainerInline container:
                for (var child = container.FirstChild; child is not null; child = child.NextSibling)
                {
                    Append(child, sb);
                }

                break;
        }
    }
}
