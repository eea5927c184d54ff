using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Runtime.Tests.Tokenization;

public sealed class TokenizerFolderErrorTests
{
    private static readonly string Valid = TokenizerFolder.ByteLevelTokenizerJson(["Ġ t"]);

    [Fact]
    public void Load_MissingTokenizerJson_NamesTheFile()
    {
        using var dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), "{}");

        var ex = Assert.Throws<ModelFolderException>(() => HfTokenizer.Load(dir.Path));

        Assert.Equal(Path.Combine(dir.Path, "tokenizer.json"), ex.File);
        Assert.Contains("missing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingTokenizerConfig_NamesTheFile()
    {
        using var dir = TestPaths.NewTempDir();
        TokenizerFolder.Write(dir, Valid, configJson: null);

        var ex = Assert.Throws<ModelFolderException>(() => HfTokenizer.Load(dir.Path));

        Assert.Equal(Path.Combine(dir.Path, "tokenizer_config.json"), ex.File);
    }

    [Theory]
    [InlineData("tokenizer.json", "{\"model\": ", null)]
    [InlineData("tokenizer.json", "[]", null)]
    [InlineData("tokenizer.json", "{}", "model")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "model.vocab")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}", "model.vocab")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "model.merges")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "model.merges[0]")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [17]}}", "model.merges[0]")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "model.type")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}}", "model.unk_token")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}", "pre_tokenizer.pattern.Regex")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\"}}", "pre_tokenizer.behavior")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"Precompiled\"}}", "normalizer.type")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Strip\", \"content\": \"ab\"}]}}", "decoder.decoders[0].content")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": 1}]}", "added_tokens[0].content")]
    [InlineData("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}]}}", "post_processor.single[0]")]
    [InlineData("tokenizer_config.json", "not json", null)]
    [InlineData("tokenizer_config.json", "{\"bos_token\": 5}", "bos_token")]
    [InlineData("tokenizer_config.json", "{\"eos_token\": {\"text\": \"x\"}}", "eos_token")]
    [InlineData("tokenizer_config.json", "{\"additional_special_tokens\": \"<x>\"}", "additional_special_tokens")]
    [InlineData("tokenizer_config.json", "{\"clean_up_tokenization_spaces\": \"yes\"}", "clean_up_tokenization_spaces")]
    public void Load_MalformedFile_NamesFileAndField(string file, string json, string? field)
    {
        using var dir = TestPaths.NewTempDir();
        if (file == "tokenizer.json")
        {
            TokenizerFolder.Write(dir, json);
        }
        else
        {
            TokenizerFolder.Write(dir, Valid, json);
        }

        var ex = Assert.Throws<ModelFolderException>(() => HfTokenizer.Load(dir.Path));

        Assert.Equal(Path.Combine(dir.Path, file), ex.File);
        Assert.Equal(field, ex.Field);
        Assert.Contains(file, ex.Message, StringComparison.Ordinal);
    }
}
