namespace EdgeLlm.Runtime.Tokenization;

/// <summary>
/// Decodes ids as they are generated. Each <see cref="Append"/> returns only text that is final: an
/// incomplete UTF-8 sequence (byte-level or <c>&lt;0xNN&gt;</c> tokens) is held back until its last byte
/// arrives, and each new piece is decoded together with the tokens before it, so decoders that strip a
/// leading space (SentencePiece) strip it only at the very start. The concatenation of everything
/// returned, ending with <see cref="Flush"/>, equals <see cref="HfTokenizer.Decode"/> of all ids.
/// Not thread-safe: one per generated sequence.
/// </summary>
internal sealed class TokenStreamDecoder
{
    // The longest clean-up pattern (" n't", " 've", " 're") is four characters long.
    private const int CleanUpReach = 3;

    private readonly HfTokenizer tokenizer;
    private readonly bool skipSpecialTokens;
    private readonly List<int> window = [];
    private string prefix = "";
    private int prefixIndex;
    private string heldForCleanUp = "";

    internal TokenStreamDecoder(HfTokenizer tokenizer, bool skipSpecialTokens)
    {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the newly completed text, possibly empty.</summary>
    public string Append(int id)
    {
        window.Add(id);
        var text = tokenizer.DecodeRaw(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(window), skipSpecialTokens);
        if (text.Length <= prefix.Length || text.EndsWith('\uFFFD'))
        {
            return "";
        }

        var delta = text[CommonPrefixLength(text, prefix)..];

        // Keep the tokens of this step as context for the next one, and drop older ones.
        var newPrefixIndex = window.Count - prefixIndex;
        window.RemoveRange(0, prefixIndex);
        prefix = tokenizer.DecodeRaw(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(window), skipSpecialTokens);
        prefixIndex = newPrefixIndex;
        return CleanUp(delta, final: false);
    }

    /// <summary>Returns whatever is still held back (an incomplete character becomes U+FFFD, as in a full decode) and resets.</summary>
    public string Flush()
    {
        var text = tokenizer.DecodeRaw(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(window), skipSpecialTokens);
        var delta = text.Length > prefix.Length ? text[CommonPrefixLength(text, prefix)..] : "";
        window.Clear();
        prefix = "";
        prefixIndex = 0;
        return CleanUp(delta, final: true);
    }

    private string CleanUp(string delta, bool final)
    {
        if (!tokenizer.CleansUpSpaces)
        {
            return delta;
        }

        var pending = heldForCleanUp + delta;
        var cut = pending.Length;
        if (!final)
        {
            // A clean-up pattern starts with a space: keep back any space close enough to the end
            // to begin a pattern that later text could complete.
            for (var found = true; found && cut > 0;)
            {
                found = false;
                for (var k = Math.Max(0, cut - CleanUpReach - 1); k < cut; k++)
                {
                    if (pending[k] == ' ')
                    {
                        cut = k;
                        found = true;
                        break;
                    }
                }
            }
        }

        heldForCleanUp = pending[cut..];
        return HfTokenizer.CleanUpTokenization(pending[..cut]);
    }

    private static int CommonPrefixLength(string a, string b)
    {
        var n = Math.Min(a.Length, b.Length);
        var i = 0;
        while (i < n && a[i] == b[i])
        {
            i++;
        }

        return i;
    }
}
