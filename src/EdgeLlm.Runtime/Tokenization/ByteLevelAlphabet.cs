namespace EdgeLlm.Runtime.Tokenization;

/// <summary>
/// GPT-2's reversible mapping of the 256 byte values onto printable characters, used by byte-level
/// BPE vocabularies (a space is <c>Ġ</c>, a newline <c>Ċ</c>).
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly short[] CharToByte = BuildCharToByte();

    public static char Encode(byte b) => ByteToChar[b];

    public static bool TryDecode(char c, out byte b)
    {
        if (c < CharToByte.Length && CharToByte[c] >= 0)
        {
            b = (byte)CharToByte[c];
            return true;
        }

        b = 0;
        return false;
    }

    /// <summary>The byte-level form of <paramref name="text"/>: its UTF-8 bytes, one character each.</summary>
    public static string EncodeText(ReadOnlySpan<char> text)
    {
        var max = System.Text.Encoding.UTF8.GetMaxByteCount(text.Length);
        Span<byte> bytes = max <= 512 ? stackalloc byte[max] : new byte[max];
        var n = System.Text.Encoding.UTF8.GetBytes(text, bytes);
        Span<char> chars = n <= 512 ? stackalloc char[n] : new char[n];
        for (var i = 0; i < n; i++)
        {
            chars[i] = ByteToChar[bytes[i]];
        }

        return new string(chars);
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            // Printable Latin-1 bytes stand for themselves; the rest move up past U+00FF in byte order.
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[512];
        Array.Fill(map, (short)-1);
        for (var b = 0; b < 256; b++)
        {
            map[ByteToChar[b]] = (short)b;
        }

        return map;
    }
}
