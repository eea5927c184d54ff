namespace EdgeLlm.Runtime.Synthesis;

/// <summary>What <see cref="ModelSynthesizer.Synthesize"/> writes.</summary>
/// <param name="Family">Decoder family: one of <see cref="ModelSynthesizer.Families"/> (qwen2, llama, phi3).</param>
/// <param name="Shape">Dimensions: one of <see cref="ModelSynthesizer.Shapes"/> (tiny, qwen2.5-0.5b, …).</param>
/// <param name="Quant">Weight format: <c>fp32</c> (MatMul) or <c>int4</c> (MatMulNBits, block 32, fp32 embeddings).</param>
/// <param name="OutputDirectory">Folder to write into; created if missing, files of the same names replaced.</param>
/// <param name="Seed">Random seed: the same options give byte-identical files.</param>
internal sealed record SynthesisOptions(string Family, string Shape, string Quant, string OutputDirectory, int Seed);

/// <summary>What was written.</summary>
/// <param name="Parameters">Number of weights (an int4 matrix counts K × N), excluding the rotary caches.</param>
/// <param name="WeightBytes">Bytes of all initializers: the external data file (alignment padding included) plus those inline in model.onnx.</param>
/// <param name="Files">Full paths of the files written, model.onnx first.</param>
internal sealed record SynthesisResult(long Parameters, long WeightBytes, IReadOnlyList<string> Files);
