namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// The cos/sin caches GroupQueryAttention reads when <c>do_rotary=1</c>: [context_length, head_size/2],
/// entry (p, j) = cos/sin(p · θ^(−2j/head_size)), with Llama 3's frequency scaling when the shape has it.
/// </summary>
internal static class RotaryCache
{
    public static (float[] Cos, float[] Sin) Compute(ModelShape shape)
    {
        var half = shape.HeadSize / 2;
        var invFreq = new double[half];
        for (var j = 0; j < half; j++)
        {
            invFreq[j] = 1.0 / Math.Pow(shape.RopeTheta, 2.0 * j / shape.HeadSize);
        }

        if (shape.RopeScaling is { } scaling)
        {
            ApplyLlama3Scaling(invFreq, scaling);
        }

        var cos = new float[(long)shape.ContextLength * half];
        var sin = new float[cos.Length];
        for (var p = 0; p < shape.ContextLength; p++)
        {
            for (var j = 0; j < half; j++)
            {
                // Single-precision angles, as the builder computes them (torch float32 outer product).
                var angle = (float)p * (float)invFreq[j];
                cos[(p * half) + j] = MathF.Cos(angle);
                sin[(p * half) + j] = MathF.Sin(angle);
            }
        }

        return (cos, sin);
    }

    private static void ApplyLlama3Scaling(double[] invFreq, Llama3RopeScaling s)
    {
        var lowFreqWavelen = s.OriginalContextLength / s.LowFreqFactor;
        var highFreqWavelen = s.OriginalContextLength / s.HighFreqFactor;
        for (var j = 0; j < invFreq.Length; j++)
        {
            var wavelen = 2 * Math.PI / invFreq[j];
            if (wavelen < highFreqWavelen)
            {
                continue;
            }

            if (wavelen > lowFreqWavelen)
            {
                invFreq[j] /= s.Factor;
                continue;
            }

            var smooth = ((s.OriginalContextLength / wavelen) - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
            invFreq[j] = ((1 - smooth) * invFreq[j] / s.Factor) + (smooth * invFreq[j]);
        }
    }
}
