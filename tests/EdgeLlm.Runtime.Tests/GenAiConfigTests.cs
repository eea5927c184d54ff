using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tests;

public sealed class GenAiConfigTests
{
    [Fact]
    public void Parse_MissingHeads_NamesField()
    {
        var ex = Assert.Throws<ModelFolderException>(() => GenAiConfig.Parse("""{"model":{"type":"qwen2","context_length":8,"vocab_size":10,"eos_token_id":1,"decoder":{"filename":"model.onnx","hidden_size":8,"num_key_value_heads":1,"num_hidden_layers":1}}}""", "/m/genai_config.json"));
        Assert.Equal("model.decoder.num_attention_heads", ex.Field);
    }
}
