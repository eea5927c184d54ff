using System.Text.RegularExpressions;

namespace EdgeLlm.Knowledge.Chunking;

/// <summary>Counts the tokens a text costs in the active model's prompt; chunk budgets are measured with it.</summary>
public interface ITokenCounter
{
    int CountTokens(string text);
}

/// <summary>
/// The counter used when no model tokenizer is given: an estimate close to BPE tokenizers of current small models
/// on English technical text (a word is one token plus one per further six letters, digits go in threes, each
/// punctuation mark is a token). It errs on the high side so that chunks fit the real tokenizer's budget too.
/// </summary>
public sealed partial class EstimatingTokenCounter : ITokenCounter
{
    public static EstimatingTokenCounter Instance { get; } = new();

    public int CountTokens(string text)
    {
        var count = 0;
        foreach (var m in Pieces().EnumerateMatches(text))
        {
            var c = text[m.Index];
            count += char.IsLetter(c) ? 1 + (m.Length - 1) / 6 : char.IsDigit(c) ? (m.Length + 2) / 3 : 1;
        }

        return count;
    }

    [GeneratedRegex(@"\p{L}+|\p{N}+|[^\s\p{L}\p{N}]")]
    private static partial Regex Pieces();
}

/// <summary>Counts with any function, e.g. a model tokenizer: <c>new DelegateTokenCounter(t => tok.Encode(t, false).Length)</c>.</summary>
public sealed class DelegateTokenCounter(Func<string, int> count) : ITokenCounter
{
    public int CountTokens(string text) => count(text);
}
