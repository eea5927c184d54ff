using System.Text;
using System.Text.Json;
using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Runtime.Tests.Tokenization;

/// <summary>Ids and text identical to Hugging Face (transformers.js 4.3.1) over the reference corpus.</summary>
public sealed class TokenizerParityTests
{
    public static TheoryData<string> Names => new() { "qwen3", "llama3", "llama2", "gemma3" };

    [Theory]
    [MemberData(nameof(Names))]
    public void Encode_WithSpecialTokens_MatchesHuggingFace(string name) =>
        AssertAll(name, c => Same(c.Ids, RealTokenizers.Get(name).Encode(c.Text)));

    [Theory]
    [MemberData(nameof(Names))]
    public void Encode_WithoutSpecialTokens_MatchesHuggingFace(string name) =>
        AssertAll(name, c => Same(c.IdsNoSpecial, RealTokenizers.Get(name).Encode(c.Text, addSpecialTokens: false)));

    [Theory]
    [MemberData(nameof(Names))]
    public void Decode_KeepingSpecialTokens_MatchesHuggingFace(string name) =>
        AssertAll(name, c => Same(c.Decoded, RealTokenizers.Get(name).Decode(c.Ids)));

    [Theory]
    [MemberData(nameof(Names))]
    public void Decode_SkippingSpecialTokens_MatchesHuggingFace(string name) =>
        AssertAll(name, c => Same(c.DecodedSkipSpecial, RealTokenizers.Get(name).Decode(c.Ids, skipSpecialTokens: true)));

    [Theory]
    [MemberData(nameof(Names))]
    public void StreamDecoder_Concatenation_EqualsDecode(string name)
    {
        var tokenizer = RealTokenizers.Get(name);
        AssertAll(name, c =>
        {
            foreach (var skip in new[] { false, true })
            {
                var stream = tokenizer.CreateStreamDecoder(skip);
                var sb = new StringBuilder();
                foreach (var id in c.Ids)
                {
                    sb.Append(stream.Append(id));
                }

                sb.Append(stream.Flush());
                var expected = skip ? c.DecodedSkipSpecial : c.Decoded;
                if (sb.ToString() != expected)
                {
                    return $"skip={skip}: expected {Json(expected)}, streamed {Json(sb.ToString())}";
                }
            }

            return null;
        });
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void StreamDecoder_NeverEmitsReplacementCharactersTheTextDoesNotHave(string name)
    {
        var tokenizer = RealTokenizers.Get(name);
        AssertAll(name, c =>
        {
            if (c.DecodedSkipSpecial.Contains('\uFFFD', StringComparison.Ordinal))
            {
                return null;
            }

            var stream = tokenizer.CreateStreamDecoder();
            foreach (var id in c.Ids)
            {
                var piece = stream.Append(id);
                if (piece.Contains('\uFFFD', StringComparison.Ordinal))
                {
                    return $"after id {id} the stream emitted {Json(piece)}";
                }
            }

            return null;
        });
    }

    private static void AssertAll(string name, Func<ReferenceCase, string?> check)
    {
        var cases = RealTokenizers.Reference(name);
        Assert.True(cases.Count >= 500, $"{name}: only {cases.Count} reference cases");
        var failures = new List<string>();
        foreach (var c in cases)
        {
            if (check(c) is { } problem)
            {
                failures.Add($"{Json(c.Text)}: {problem}");
            }
        }

        Assert.True(failures.Count == 0, $"{name}: {failures.Count} of {cases.Count} differ:\n" + string.Join("\n", failures.Take(8)));
    }

    private static string? Same(int[] expected, int[] actual) =>
        expected.SequenceEqual(actual) ? null : $"expected [{string.Join(",", expected)}], got [{string.Join(",", actual)}]";

    private static string? Same(string expected, string actual) =>
        expected == actual ? null : $"expected {Json(expected)}, got {Json(actual)}";

    private static string Json(string s) => JsonSerializer.Serialize(s);
}
