using System.Text;
using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Runtime.Tests.Tokenization;

public sealed class HfTokenizerTests
{
    private static readonly string[] Merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ in"];

    [Fact]
    public void Encode_ByteLevelBpe_AppliesMergesInRankOrder()
    {
        using var dir = TestPaths.NewTempDir();
        var tokenizer = HfTokenizer.Load(TokenizerFolder.Write(dir, TokenizerFolder.ByteLevelTokenizerJson(Merges)));
        var the = tokenizer.TokenToId("Ġthe")!.Value;
        var h = tokenizer.TokenToId("h")!.Value;
        var e = tokenizer.TokenToId("e")!.Value;
        var t = tokenizer.TokenToId("t")!.Value;

        Assert.Equal([t, tokenizer.TokenToId("he")!.Value, the, the], tokenizer.Encode("the the the"));
        Assert.Equal([e, h], tokenizer.Encode("eh", addSpecialTokens: false));
    }

    [Fact]
    public void Encode_SpecialTokensInText_BecomeTheirIds()
    {
        using var dir = TestPaths.NewTempDir();
        var tokenizer = HfTokenizer.Load(TokenizerFolder.Write(dir, TokenizerFolder.ByteLevelTokenizerJson(Merges)));

        var ids = tokenizer.Encode("<|im_start|>user\nhi<|im_end|><think>");

        Assert.Equal(tokenizer.TokenToId("<|im_start|>"), ids[0]);
        Assert.Equal(tokenizer.TokenToId("<think>"), ids[^1]);
        Assert.Equal(tokenizer.TokenToId("<|im_end|>"), ids[^2]);
        Assert.Equal("<|im_start|>user\nhi<|im_end|><think>", tokenizer.Decode(ids));
        Assert.Equal("user\nhi<think>", tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void ByteLevelBpe_RoundTripsAnyText()
    {
        using var dir = TestPaths.NewTempDir();
        var tokenizer = HfTokenizer.Load(TokenizerFolder.Write(dir, TokenizerFolder.ByteLevelTokenizerJson(Merges)));
        const string text = "  Grüße 👨‍👩‍👧 中文\t\r\n\u0000 end ";

        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void StreamDecoder_HoldsBackASplitFourByteCharacter()
    {
        using var dir = TestPaths.NewTempDir();
        var tokenizer = HfTokenizer.Load(TokenizerFolder.Write(dir, TokenizerFolder.ByteLevelTokenizerJson(Merges)));
        var ids = tokenizer.Encode("a😀");
        Assert.Equal(5, ids.Length);
        var stream = tokenizer.CreateStreamDecoder();

        var pieces = ids.Select(stream.Append).ToList();

        Assert.Equal(["a", "", "", "", "😀"], pieces);
        Assert.Equal("", stream.Flush());
    }

    [Fact]
    public void StreamDecoder_IncompleteCharacterAtTheEnd_IsFlushedAsHuggingFaceDecodesIt()
    {
        using var dir = TestPaths.NewTempDir();
        var tokenizer = HfTokenizer.Load(TokenizerFolder.Write(dir, TokenizerFolder.ByteLevelTokenizerJson(Merges)));
        var ids = tokenizer.Encode("x😀")[..3];
        var stream = tokenizer.CreateStreamDecoder();

        var streamed = string.Concat(ids.Select(stream.Append));

        Assert.Equal("x", streamed);
        Assert.Equal(tokenizer.Decode(ids)[1..], stream.Flush());
    }

    [Fact]
    public void StreamDecoder_SentencePieceByteFallback_NeverSplitsACharacter()
    {
        var tokenizer = RealTokenizers.Get("llama2");
        var ids = tokenizer.Encode("ok 🤗 done", addSpecialTokens: false);
        var stream = tokenizer.CreateStreamDecoder();
        var sb = new StringBuilder();

        foreach (var id in ids)
        {
            var piece = stream.Append(id);
            Assert.DoesNotContain('\uFFFD', piece);
            sb.Append(piece);
        }

        sb.Append(stream.Flush());
        Assert.Equal("ok 🤗 done", sb.ToString());
        Assert.Contains(ids, id => tokenizer.IdToToken(id) == "<0xF0>");
    }

    [Fact]
    public void StreamDecoder_SentencePiece_StripsOnlyTheFirstLeadingSpace()
    {
        var tokenizer = RealTokenizers.Get("llama2");
        var ids = tokenizer.Encode("Hello  world");
        var stream = tokenizer.CreateStreamDecoder();

        var pieces = ids.Select(stream.Append).Append(stream.Flush()).ToList();

        Assert.Equal("Hello  world", string.Concat(pieces));
        Assert.Equal("Hello", pieces.First(p => p.Length > 0));
    }

    [Theory]
    [InlineData("x ' abc")]
    [InlineData("a , b . c ? d ! e 's f n't g 're h 've i 'm")]
    [InlineData("  .  ' ' ,, n'tt   's")]
    [InlineData("end with space ")]
    public void StreamDecoder_WithCleanUpSpaces_EqualsDecodeAtEveryTokenBoundary(string text)
    {
        using var dir = TestPaths.NewTempDir();
        var tokenizer = HfTokenizer.Load(TokenizerFolder.Write(dir, TokenizerFolder.ByteLevelTokenizerJson([]),
            """{"eos_token": "<|im_end|>", "clean_up_tokenization_spaces": true}"""));
        var ids = tokenizer.Encode(text);
        var stream = tokenizer.CreateStreamDecoder();

        var streamed = string.Concat(ids.Select(stream.Append)) + stream.Flush();

        Assert.Equal(HfTokenizer.CleanUpTokenization(text), tokenizer.Decode(ids));
        Assert.Equal(tokenizer.Decode(ids), streamed);
    }

    [Fact]
    public void Decode_WithoutCleanUpSetting_KeepsSpacesBeforePunctuation()
    {
        using var dir = TestPaths.NewTempDir();
        var tokenizer = HfTokenizer.Load(TokenizerFolder.Write(dir, TokenizerFolder.ByteLevelTokenizerJson([]), "{}"));

        Assert.Equal("a , b .", tokenizer.Decode(tokenizer.Encode("a , b .")));
    }

    [Fact]
    public void Properties_ComeFromTheConfigAndTheAddedTokens()
    {
        var qwen = RealTokenizers.Get("qwen3");
        Assert.Null(qwen.BosToken);
        Assert.Null(qwen.BosTokenId);
        Assert.Equal("<|im_end|>", qwen.EosToken);
        Assert.Equal(151645, qwen.EosTokenId);
        Assert.Equal(151669, qwen.VocabSize);
        Assert.True(qwen.IsSpecial(151644));
        Assert.False(qwen.IsSpecial(151667));
        Assert.Equal("<think>", qwen.IdToToken(151667));
        Assert.Equal(151644, qwen.TokenToId("<|im_start|>"));
        Assert.Null(qwen.IdToToken(qwen.VocabSize));

        var llama2 = RealTokenizers.Get("llama2");
        Assert.Equal(("<s>", 1, "</s>", 2), (llama2.BosToken, llama2.BosTokenId, llama2.EosToken, llama2.EosTokenId));
        Assert.Equal(32000, llama2.VocabSize);

        var gemma = RealTokenizers.Get("gemma3");
        Assert.Equal(("<bos>", 2), (gemma.BosToken, gemma.BosTokenId));
        Assert.Equal("<end_of_turn>", gemma.EosToken);
        Assert.Equal(gemma.BosTokenId, gemma.Encode("hi")[0]);
        Assert.NotEqual(gemma.BosTokenId, gemma.Encode("hi", addSpecialTokens: false)[0]);
    }

    [Fact]
    public void Decode_IgnoresIdsOutsideTheVocabulary()
    {
        var qwen = RealTokenizers.Get("qwen3");
        var ids = qwen.Encode("hello");

        Assert.Equal("hello", qwen.Decode([.. ids, qwen.VocabSize + 10, -1]));
    }
}
