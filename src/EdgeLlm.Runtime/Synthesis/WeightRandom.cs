using System.Numerics;
using System.Text;

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

    private ulong _s0, _s1, _s2, _s3;

    public WeightRandom(int seed, string stream)
    {
        var x = unchecked((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) ^ Fnv1a(stream);
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    public ulong NextUInt64()
    {
        var result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

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

    private static ulong SplitMix(ref ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        var z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
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
