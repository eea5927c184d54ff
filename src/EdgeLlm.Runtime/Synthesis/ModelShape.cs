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
        new("smollm2-135m", 576, 1536, 30, 9, 3, 64, 49152, 8192, 100000, 1e-5f),
        new("smollm2-360m", 960, 2560, 32, 15, 5, 64, 49152, 8192, 100000, 1e-5f),
        new("phi-3-mini", 3072, 8192, 32, 32, 32, 96, 32064, 4096, 10000, 1e-5f),
    ];

    public int QSize => Heads * HeadSize;

    public int KvSize => KvHeads * HeadSize;

    /// <summary>The family whose released model the shape copies (tiny is a Qwen2 for tests): qwen2, llama or phi3.</summary>
    public string Family => Name.StartsWith("qwen", StringComparison.Ordinal) || Name == "tiny" ? "qwen2"
        : Name.StartsWith("phi", StringComparison.Ordinal) ? "phi3"
        : "llama";

    /// <summary>
    /// Bytes of the initializers of the int4 model folder of this shape, as the synthesizer and onnxruntime-genai's
    /// builder write it: 4-bit MatMulNBits (block 32, one float scale per block) for every projection and the
    /// lm_head, float32 embeddings, norms, Qwen2's q/k/v biases and the rotary cos/sin caches.
    /// </summary>
    public long Int4WeightBytes(bool qkvBias)
    {
        static long Int4(long k, long n) => n * (k / WeightWriter.BlockSize) * ((WeightWriter.BlockSize / 2) + sizeof(float));
        var qkv = QSize + (2L * KvSize);
        var perLayer = Int4(HiddenSize, qkv) + Int4(QSize, HiddenSize) + (2 * Int4(HiddenSize, IntermediateSize)) + Int4(IntermediateSize, HiddenSize)
            + (2L * HiddenSize * sizeof(float)) + (qkvBias ? qkv * sizeof(float) : 0);
        var embeddings = (long)VocabSize * HiddenSize * sizeof(float);
        var rotary = 2L * ContextLength * (HeadSize / 2) * sizeof(float);
        return embeddings + (Layers * perLayer) + (HiddenSize * sizeof(float)) + Int4(HiddenSize, VocabSize) + rotary;
    }
}
