namespace EdgeLlm.Runtime.Adapters;

/// <summary>
/// How onnxruntime-genai's model builder names the two low-rank factors of a LoRA branch: for the projection whose
/// weights are <c>{module}.MatMul.weight</c> (e.g. <c>model.layers.0.attn.qkv_proj</c>), the inputs are
/// <c>{module}.lora_A.MatMul.weight</c> [in, rank] and <c>{module}.lora_B.MatMul.weight</c> [rank, out], with the
/// LoRA scaling already folded into B, so that y = xW + (xA)B.
/// </summary>
internal static class LoraNames
{
    private const string ASuffix = ".lora_A.MatMul.weight";
    private const string BSuffix = ".lora_B.MatMul.weight";

    public static string A(string module) => module + ASuffix;

    public static string B(string module) => module + BSuffix;

    /// <summary>The other factor of the pair <paramref name="name"/> belongs to, or null when it is not a LoRA factor.</summary>
    public static string? Partner(string name) =>
        name.EndsWith(ASuffix, StringComparison.Ordinal) ? B(name[..^ASuffix.Length])
        : name.EndsWith(BSuffix, StringComparison.Ordinal) ? A(name[..^BSuffix.Length])
        : null;

    /// <summary>True for the A (down-projecting) factor.</summary>
    public static bool IsA(string name) => name.EndsWith(ASuffix, StringComparison.Ordinal);
}
