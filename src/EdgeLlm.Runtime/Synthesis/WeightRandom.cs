using System.Text;
using EdgeLlm.Runtime.Numerics;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// xoshiro256** seeded through SplitMix64 from the model seed and a tensor's name, so every tensor
/// has its own reproducible stream and the output does not depend on the order tensors are written.
/// </summary>
internal struct WeightRandom
{
    private const float InvUInt16 = 1f / 65536f;

    // Irwin–Hall with four uniforms has variance 4/12; this rescales it to unit variance.
    private static readonly float IrwinHallScale = MathF.Sqrt(3f) * InvUInt16;

    private Xoshiro256 _rng;

    public WeightRandom(int seed, string stream)
    {
        var x = unchecked((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) ^ Fnv1a(stream);
        _rng = new Xoshiro256(x);
    }

    public ulong NextUInt64() => _rng.NextUInt64();

    /// <summary>Uniform in [0, 1).</summary>
    public float NextUniform() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>
    /// Approximately standard normal (sum of four uniforms, rescaled): one generator step per value,
    /// bounded tails, which is all a random-weight initialization needs.
    /// </summary>
    public float NextNormal()
    {
        var r = NextUInt64();
        var sum = (float)((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48));
        return (sum - 2f * 65535f) * IrwinHallScale;
    }

    public void FillNormal(Span<float> values, float mean, float std)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = mean + std * NextNormal();
        }
    }

    private static ulong Fnv1a(string text)
    {
        var hash = 0xCBF29CE484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 0x100000001B3UL;
        }

        return hash;
    }
}
