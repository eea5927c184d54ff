using System.Text;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Exceptions;

namespace EdgeLlm.Knowledge.Documents;

/// <summary>
/// Reads the text layer of a PDF with PdfPig, page by page. Lines set clearly larger than the body text become
/// headings; a vertical gap larger than the line spacing starts a new paragraph. Character spans index the
/// extracted text of the whole document.
/// </summary>
internal static class PdfReader
{
    public static ParsedDocument Read(string path, string fallbackTitle)
    {
        PdfDocument pdf;
        try
        {
            pdf = PdfDocument.Open(path);
        }
        catch (PdfDocumentEncryptedException ex)
        {
            throw new DocumentException($"{path}: the PDF is encrypted; save an unencrypted copy and add that", ex);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new DocumentException($"{path}: not a readable PDF ({ex.Message}); check that the file is complete", ex);
        }

        using (pdf)
        {
            try
            {
                return ReadPages(pdf, path, fallbackTitle);
            }
            catch (Exception ex) when (ex is not (OutOfMemoryException or DocumentException))
            {
                throw new DocumentException($"{path}: the PDF is damaged ({ex.Message}); check that the file is complete", ex);
            }
        }
    }

    private static ParsedDocument ReadPages(PdfDocument pdf, string path, string fallbackTitle)
    {
        var pages = new List<(int Number, List<Line> Lines)>();
        foreach (var page in pdf.GetPages())
        {
            pages.Add((page.Number, Lines(page)));
        }

        var all = pages.SelectMany(p => p.Lines).ToList();
        if (all.Count == 0)
        {
            throw new DocumentException($"{path}: the PDF has no text layer (a scanned document?); run it through OCR first");
        }

        var body = Median(all.Select(l => l.Size));
        var headings = new HeadingStack();
        var blocks = new List<DocumentBlock>();
        string? title = pdf.Information.Title;
        var offset = 0;
        foreach (var (number, lines) in pages)
        {
            var paragraph = new StringBuilder();
            var start = offset;
            double? lastBottom = null;
            foreach (var line in lines)
            {
                var isHeading = line.Size >= body * 1.15 && line.Text.Length <= 120;
                var gap = lastBottom is { } b ? b - line.Top : 0;
                if (isHeading || gap > line.Size * 0.9)
                {
                    AddParagraph(blocks, headings, paragraph, number, start, offset);
                    start = offset;
                }

                if (isHeading)
                {
                    var level = line.Size >= body * 1.6 ? 1 : line.Size >= body * 1.3 ? 2 : 3;
                    title ??= level == 1 ? line.Text : null;
                    headings.Push(level, line.Text);
                }
                else
                {
                    paragraph.Append(line.Text).Append(' ');
                }

                offset += line.Text.Length + 1;
                lastBottom = line.Bottom;
            }

            AddParagraph(blocks, headings, paragraph, number, start, offset);
        }

        return new ParsedDocument(string.IsNullOrWhiteSpace(title) ? fallbackTitle : title.Trim(), "pdf", blocks);
    }

    private static void AddParagraph(List<DocumentBlock> blocks, HeadingStack headings, StringBuilder text, int page, int start, int end)
    {
        var collapsed = TextUtil.Collapse(text.ToString());
        if (collapsed.Length > 0)
        {
            blocks.Add(new DocumentBlock(headings.Current, BlockKind.Paragraph, collapsed, page, start, end));
        }

        text.Clear();
    }

    private static List<Line> Lines(Page page)
    {
        var lines = new List<Line>();
        // Words on one baseline (within a third of their height) form a line, read top to bottom, left to right.
        foreach (var word in page.GetWords().Where(w => !string.IsNullOrWhiteSpace(w.Text))
                     .OrderByDescending(w => Math.Round(w.BoundingBox.Bottom)).ThenBy(w => w.BoundingBox.Left))
        {
            var size = word.Letters.Count > 0 ? word.Letters.Average(l => l.PointSize) : word.BoundingBox.Height;
            var last = lines.Count > 0 ? lines[^1] : null;
            if (last is not null && Math.Abs(last.Bottom - word.BoundingBox.Bottom) <= Math.Max(1, size / 3))
            {
                last.Add(word.Text, size, word.BoundingBox.Top);
            }
            else
            {
                var line = new Line(word.BoundingBox.Bottom);
                line.Add(word.Text, size, word.BoundingBox.Top);
                lines.Add(line);
            }
        }

        return lines;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private sealed class Line(double bottom)
    {
        private readonly StringBuilder _text = new();
        private double _sizeSum;
        private int _words;

        public double Bottom { get; } = bottom;

        public double Top { get; private set; } = bottom;

        public string Text => _text.ToString();

        public double Size => _words == 0 ? 0 : _sizeSum / _words;

        public void Add(string word, double size, double top)
        {
            if (_text.Length > 0)
            {
                _text.Append(' ');
            }

            _text.Append(word);
            _sizeSum += size;
            _words++;
            Top = Math.Max(Top, top);
        }
    }
}
