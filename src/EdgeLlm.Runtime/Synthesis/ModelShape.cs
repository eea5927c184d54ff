namespace EdgeLlm.Runtime.Synthesis;

/// <summary>Llama 3.x "llama3" rope scaling (rope_scaling in the Hugging Face config).</summary>
internal sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalContextLength);

/// <summary>
/// The dimensions of a decoder, named after the released model whose config.json they copy
/// (hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
/// head_dim, vocab_size, max_position_embeddings, rope_theta, rms_norm_eps).
/// </summary>
internal sealed record ModelShape(
    string Name,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int Heads,
    int KvHeads,
    int HeadSize,
    int VocabSize,
    int ContextLength,
    double RopeTheta,
    float RmsNormEpsilon,
    Llama3RopeScaling? RopeScaling = null)
{
    public static readonly IReadOnlyList<ModelShape> All =
    [
        // Small enough that a test builds, loads and runs it in well under a second.
        new("tiny", HiddenSize: 128, IntermediateSize: 384, Layers: 2, Heads: 4, KvHeads: 2, HeadSize: 32,
            VocabSize: 1000, ContextLength: 512, RopeTheta: 10000, RmsNormEpsilon: 1e-6f),
        new("qwen2.5-0.5b", 896, 4864, 24, 14, 2, 64, 151936, 32768, 1000000, 1e-6f),
        new("qwen2.5-1.5b", 1536, 8960, 28, 12, 2, 128, 151936, 32768, 1000000, 1e-6f),
        new("llama-3.2-1b", 2048, 8192, 16, 32, 8, 64, 128256, 131072, 500000, 1e-5f,
            new Llama3RopeScaling(Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContextLength: 8192)),
        new("smollm2-360m", 960, 2560, 32, 15, 5, 64, 49152, 8192, 100000, 1e-5f),
        new("phi-3-mini", 3072, 8192, 32, 32, 32, 96, 32064, 4096, 10000, 1e-5f),
    ];

    public int QSize => Heads * HeadSize;

    public int KvSize => KvHeads * HeadSize;
}
