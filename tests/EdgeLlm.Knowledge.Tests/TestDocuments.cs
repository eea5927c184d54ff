using System.Text;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace EdgeLlm.Knowledge.Tests;

/// <summary>Documents the tests write for themselves: PDFs built with PdfPig's writer, hand-made broken PDFs, HTML.</summary>
internal static class TestDocuments
{
    /// <summary>A two-page service manual: a large-font heading per page over body lines in 11 pt.</summary>
    public static byte[] ServicePdf()
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        var page1 = builder.AddPage(PageSize.A4);
        page1.AddText("Spindle Service", 20, new PdfPoint(50, 780), font);
        page1.AddText("Check the drive belt tension every 200 hours of operation.", 11, new PdfPoint(50, 740), font);
        page1.AddText("A loose belt slips under load and burns the pulley.", 11, new PdfPoint(50, 726), font);
        var page2 = builder.AddPage(PageSize.A4);
        page2.AddText("Coolant Pump", 20, new PdfPoint(50, 780), font);
        page2.AddText("If the display shows error E-17 the coolant pump has stalled.", 11, new PdfPoint(50, 740), font);
        page2.AddText("Clear the intake filter and restart the pump from the service menu.", 11, new PdfPoint(50, 726), font);
        return builder.Build();
    }

    /// <summary>A PDF whose only page holds a drawn rectangle: what a scanner without OCR produces, text-wise.</summary>
    public static byte[] ScannedPdf()
    {
        var builder = new PdfDocumentBuilder();
        var page = builder.AddPage(PageSize.A4);
        page.DrawRectangle(new PdfPoint(50, 50), 400, 600, 2, fill: true);
        return builder.Build();
    }

    /// <summary>A PDF whose trailer names a standard security handler whose user password is not empty.</summary>
    public static byte[] EncryptedPdf()
    {
        var objects = new[]
        {
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
            "<< /Filter /Standard /V 1 /R 2 /O <" + new string('A', 64) + "> /U <" + new string('B', 64) + "> /P -4 >>",
        };
        var sb = new StringBuilder("%PDF-1.4\n");
        var offsets = new List<int>();
        for (var i = 0; i < objects.Length; i++)
        {
            offsets.Add(Encoding.ASCII.GetByteCount(sb.ToString()));
            sb.Append($"{i + 1} 0 obj\n{objects[i]}\nendobj\n");
        }

        var xref = Encoding.ASCII.GetByteCount(sb.ToString());
        sb.Append($"xref\n0 {objects.Length + 1}\n0000000000 65535 f \n");
        foreach (var o in offsets)
        {
            sb.Append($"{o:D10} 00000 n \n");
        }

        sb.Append($"trailer\n<< /Size {objects.Length + 1} /Root 1 0 R /Encrypt 4 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>] >>\nstartxref\n{xref}\n%%EOF\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    public const string Html = """
        <!DOCTYPE html>
        <html><head><title>Conveyor Manual</title><script>var belt = "script text must not be indexed";</script></head>
        <body>
          <nav><a href="/">Home</a> <a href="/parts">Parts</a></nav>
          <h1>Conveyor Manual</h1>
          <p>This manual covers the XR-200 conveyor.</p>
          <h2>Belt alignment</h2>
          <p>If the belt drifts to one side, turn the <b>tracking screw</b> on the tail pulley a quarter turn.</p>
          <h3>Torque values</h3>
          <table><tr><th>Bolt</th><th>Torque</th></tr><tr><td>M8 frame bolt</td><td>25 Nm</td></tr></table>
          <h2>Motor faults</h2>
          <ul><li>Fault F-32: motor overheated, let it cool for 20 minutes.</li><li>Fault F-33: phase loss.</li></ul>
          <pre>reset --motor 1</pre>
        </body></html>
        """;
}
