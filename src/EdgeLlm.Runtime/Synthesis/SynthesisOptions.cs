namespace EdgeLlm.Runtime.Synthesis;

/// <summary>What <see cref="ModelSynthesizer.Synthesize"/> writes.</summary>
/// <param name="Family">Decoder family: one of <see cref="ModelSynthesizer.Families"/> (qwen2, llama, phi3).</param>
/// <param name="Shape">Dimensions: one of <see cref="ModelSynthesizer.Shapes"/> (tiny, qwen2.5-0.5b, …).</param>
/// <param name="Quant">Weight format: <c>fp32</c> (MatMul) or <c>int4</c> (MatMulNBits, block 32, fp32 embeddings).</param>
/// <param name="OutputDirectory">Folder to write into; created if missing, files of the same names replaced.</param>
/// <param name="Seed">Random seed: the same options give byte-identical files.</param>
/// <param name="LoraRank">
/// Default 0: no LoRA. Above 0, the attention projections get LoRA branches whose factors are overridable inputs
/// (<see cref="LoraBranches"/>) that default to zero effect, and this is the rank <see cref="AdapterSynthesizer.Synthesize"/>
/// gives adapters for the model. The model itself accepts adapters of any rank.
/// </param>
/// <param name="LoraDefaults">
/// Default null. An <c>.onnx_adapter</c> whose parameters become the LoRA inputs' defaults, baking the adapter in
/// (a reference for tests: such a model with no adapter active computes what the plain LoRA model computes with it).
/// Needs <paramref name="LoraRank"/> above 0.
/// </param>
internal sealed record SynthesisOptions(string Family, string Shape, string Quant, string OutputDirectory, int Seed, int LoraRank = 0, string? LoraDefaults = null);

/// <summary>What was written.</summary>
/// <param name="Parameters">Number of weights (an int4 matrix counts K × N), excluding the rotary caches.</param>
/// <param name="WeightBytes">Bytes of all initializers: the external data file (alignment padding included) plus those inline in model.onnx.</param>
/// <param name="Files">Full paths of the files written, model.onnx first.</param>
internal sealed record SynthesisResult(long Parameters, long WeightBytes, IReadOnlyList<string> Files);
