using System.Runtime.InteropServices;
using EdgeLlm.Runtime.Onnx;

namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// Generates random initializers chunk by chunk straight into the external data file (or inline when
/// small) and registers them with the graph, counting parameters and bytes as it goes.
/// </summary>
internal sealed class WeightWriter
{
    /// <summary>MatMulNBits block size the builder uses for int4 (block_size=32: 16 packed bytes per block).</summary>
    public const int BlockSize = 32;

    /// <summary>Standard deviation of (q - 8) for q uniform over 1..15, the nibbles written.</summary>
    private static readonly float NibbleStd = MathF.Sqrt(56f / 3f);

    private const int ChunkFloats = 1 << 16;

    // Every byte packs two nibbles, each uniform over 1..15, so that (q - 8) has mean zero:
    // the default zero point of 4-bit MatMulNBits is 8 and 0 would make the weights skew negative.
    private static readonly byte[] NibblePairs = BuildNibblePairs();

    private readonly ExternalDataWriter _data;
    private readonly OnnxGraphBuilder _graph;
    private readonly int _seed;
    private readonly CancellationToken _cancellationToken;

    public WeightWriter(ExternalDataWriter data, OnnxGraphBuilder graph, int seed, CancellationToken cancellationToken)
    {
        _data = data;
        _graph = graph;
        _seed = seed;
        _cancellationToken = cancellationToken;
    }

    public long ParameterCount { get; private set; }

    public long InlineBytes { get; private set; }

    /// <summary>A float tensor of independent N(mean, std²) values.</summary>
    public string Normal(string name, long[] dims, float mean, float std)
    {
        var count = Count(dims);
        ParameterCount += count;
        var rng = new WeightRandom(_seed, name);
        var buffer = new float[(int)Math.Min(count, ChunkFloats)];
        return Stream(name, OnnxDataType.Float, dims, count * sizeof(float), sink =>
        {
            for (long done = 0; done < count;)
            {
                var n = (int)Math.Min(buffer.Length, count - done);
                rng.FillNormal(buffer.AsSpan(0, n), mean, std);
                sink(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
                done += n;
            }
        });
    }

    /// <summary>A float tensor with the given values (not counted as parameters: caches, not weights).</summary>
    public string Floats(string name, long[] dims, float[] values)
    {
        if (Count(dims) != values.Length)
        {
            throw new ArgumentException($"Tensor '{name}' has {values.Length} values for dims [{string.Join(", ", dims)}].", nameof(values));
        }

        return Stream(name, OnnxDataType.Float, dims, values.Length * (long)sizeof(float), sink => sink(MemoryMarshal.AsBytes(values.AsSpan())));
    }

    /// <summary>
    /// The B and scales inputs of a 4-bit MatMulNBits computing [*, K] x [K, N]: B is uint8 [N, K/32, 16]
    /// with the first element of each pair in the low nibble, scales are float [N * K/32]. The weights are
    /// drawn as nibbles directly and the scales are set so that the dequantized weights have roughly
    /// <paramref name="std"/> as their standard deviation; there are no zero points (the default, 8, applies).
    /// </summary>
    public (string Weight, string Scales) Int4(string baseName, int k, int n, float std)
    {
        if (k % BlockSize != 0)
        {
            throw new ArgumentException($"K={k} of '{baseName}' is not a multiple of the block size {BlockSize}.", nameof(k));
        }

        var blocks = k / BlockSize;
        ParameterCount += (long)k * n;
        var weightName = baseName + ".weight_Q4";
        var bytes = (long)n * blocks * (BlockSize / 2);
        var rng = new WeightRandom(_seed, weightName);
        var buffer = new byte[(int)Math.Min(bytes, 1 << 18)];
        Stream(weightName, OnnxDataType.UInt8, [n, blocks, BlockSize / 2], bytes, sink =>
        {
            for (long done = 0; done < bytes;)
            {
                var count = (int)Math.Min(buffer.Length, bytes - done);
                var i = 0;
                for (; i + 4 <= count; i += 4)
                {
                    var r = rng.NextUInt64();
                    buffer[i] = NibblePairs[((r & 0xFFFF) * (ulong)NibblePairs.Length) >> 16];
                    buffer[i + 1] = NibblePairs[(((r >> 16) & 0xFFFF) * (ulong)NibblePairs.Length) >> 16];
                    buffer[i + 2] = NibblePairs[(((r >> 32) & 0xFFFF) * (ulong)NibblePairs.Length) >> 16];
                    buffer[i + 3] = NibblePairs[((r >> 48) * (ulong)NibblePairs.Length) >> 16];
                }

                for (; i < count; i++)
                {
                    buffer[i] = NibblePairs[((rng.NextUInt64() >> 48) * (ulong)NibblePairs.Length) >> 16];
                }

                sink(buffer.AsSpan(0, count));
                done += count;
            }
        });

        var scalesName = baseName + ".weight_scales";
        var scaleCount = (long)n * blocks;
        var scaleRng = new WeightRandom(_seed, scalesName);
        var scaleBase = std / NibbleStd;
        var scales = new float[(int)Math.Min(scaleCount, ChunkFloats)];
        Stream(scalesName, OnnxDataType.Float, [scaleCount], scaleCount * sizeof(float), sink =>
        {
            for (long done = 0; done < scaleCount;)
            {
                var count = (int)Math.Min(scales.Length, scaleCount - done);
                for (var i = 0; i < count; i++)
                {
                    // Blocks differ in scale, as real quantized weights do.
                    scales[i] = scaleBase * (0.75f + 0.5f * scaleRng.NextUniform());
                }

                sink(MemoryMarshal.AsBytes(scales.AsSpan(0, count)));
                done += count;
            }
        });

        return (weightName, scalesName);
    }

    private delegate void ByteSink(ReadOnlySpan<byte> bytes);

    private string Stream(string name, OnnxDataType type, long[] dims, long byteCount, Action<ByteSink> produce)
    {
        _cancellationToken.ThrowIfCancellationRequested();
        if (byteCount < ExternalDataWriter.InlineThreshold)
        {
            var inline = new List<byte>((int)byteCount);
            produce(bytes => inline.AddRange(bytes));
            InlineBytes += byteCount;
            _graph.AddInitializer(new OnnxTensor { Name = name, DataType = type, Dims = dims, RawData = inline.ToArray() });
            return name;
        }

        _data.BeginTensor();
        produce(bytes => _data.Write(bytes));
        _graph.AddInitializer(_data.EndTensor(name, type, dims));
        return name;
    }

    private static long Count(long[] dims)
    {
        long count = 1;
        foreach (var d in dims)
        {
            count *= d;
        }

        return count;
    }

    private static byte[] BuildNibblePairs()
    {
        var pairs = new byte[15 * 15];
        for (var lo = 1; lo <= 15; lo++)
        {
            for (var hi = 1; hi <= 15; hi++)
            {
                pairs[((lo - 1) * 15) + hi - 1] = (byte)(lo | (hi << 4));
            }
        }

        return pairs;
    }
}
