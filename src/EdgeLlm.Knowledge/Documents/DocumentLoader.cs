using System.Security.Cryptography;
using System.Text;

namespace EdgeLlm.Knowledge.Documents;

/// <summary>Reads one file of a supported format into blocks, refusing what cannot be a manual with a clear reason.</summary>
internal static class DocumentLoader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The file extensions ingested from a folder, and the format each means.</summary>
    public static string? FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".md" or ".markdown" => "markdown",
        ".html" or ".htm" => "html",
        ".pdf" => "pdf",
        ".txt" or ".text" => "text",
        _ => null,
    };

    /// <summary>The SHA-256 of the file's bytes (hex), checked before anything is parsed.</summary>
    public static (byte[] Bytes, string Hash) ReadBytes(string path, long maxBytes)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new DocumentException(Directory.Exists(path) ? $"{path}: is a folder" : $"{path}: no such file");
        }

        if (info.Length > maxBytes)
        {
            throw new DocumentException($"{path}: {info.Length / 1048576.0:0.#} MiB is over the {maxBytes / 1048576.0:0.#} MiB limit (Knowledge:MaxFileMegabytes); split the file or raise the limit");
        }

        var bytes = File.ReadAllBytes(path);
        return (bytes, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    public static ParsedDocument Parse(string path, byte[] bytes)
    {
        var format = FormatOf(path) ?? throw new DocumentException($"{path}: unsupported file type; use .pdf, .md, .html or .txt");
        var fallbackTitle = Path.GetFileNameWithoutExtension(path);
        if (format == "pdf")
        {
            return PdfReader.Read(path, fallbackTitle);
        }

        var text = DecodeText(path, bytes);
        return format switch
        {
            "markdown" => MarkdownReader.Read(text, fallbackTitle),
            "html" => HtmlReader.Read(text, fallbackTitle),
            _ => PlainTextReader.Read(text, fallbackTitle),
        };
    }

    private static string DecodeText(string path, byte[] bytes)
    {
        // A NUL byte never occurs in a text manual; it marks a binary file with a text extension.
        if (Array.IndexOf(bytes, (byte)0) >= 0)
        {
            throw new DocumentException($"{path}: binary content in a {Path.GetExtension(path)} file; is this really a text document?");
        }

        try
        {
            var text = StrictUtf8.GetString(bytes);
            return text.Length > 0 && text[0] == '\uFEFF' ? text[1..] : text;
        }
        catch (DecoderFallbackException ex)
        {
            throw new DocumentException($"{path}: not valid UTF-8 text at byte {ex.Index}; convert the file to UTF-8", ex);
        }
    }
}
