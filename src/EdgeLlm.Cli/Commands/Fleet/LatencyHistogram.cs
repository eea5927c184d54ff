using System.Numerics;

namespace EdgeLlm.Cli.Commands.Fleet;

/// <summary>
/// A thread-safe latency histogram in the manner of HdrHistogram, with bounded memory whatever the sample count:
/// microseconds below 256 are counted exactly; above, each power of two is split into 128 buckets, so a reported
/// percentile is at most 0.8 % above the true sample (it reports the bucket's upper bound). The maximum is exact.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int ExactBits = 8;
    private const int Exact = 1 << ExactBits;
    private const int Half = Exact / 2;
    private readonly long[] _buckets = new long[Exact + (63 - ExactBits + 1) * Half];
    private long _count;
    private long _sumMicros;
    private long _maxMicros;

    public long Count => Interlocked.Read(ref _count);

    public void Record(TimeSpan elapsed) => RecordMicros((long)Math.Max(0, elapsed.TotalMicroseconds));

    public void RecordMicros(long micros)
    {
        Interlocked.Increment(ref _buckets[Index(micros)]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sumMicros, micros);
        var max = Interlocked.Read(ref _maxMicros);
        while (micros > max)
        {
            var seen = Interlocked.CompareExchange(ref _maxMicros, micros, max);
            if (seen == max)
            {
                break;
            }

            max = seen;
        }
    }

    /// <summary>The value at or below which <paramref name="fraction"/> of the samples lie, in microseconds (0 when empty).</summary>
    public long PercentileMicros(double fraction)
    {
        var count = Count;
        if (count == 0)
        {
            return 0;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(fraction * count));
        long seen = 0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            seen += Interlocked.Read(ref _buckets[i]);
            if (seen >= rank)
            {
                return Math.Min(UpperBound(i), MaxMicros);
            }
        }

        return MaxMicros;
    }

    public long MaxMicros => Interlocked.Read(ref _maxMicros);

    public double MeanMicros => Count == 0 ? 0 : Interlocked.Read(ref _sumMicros) / (double)Count;

    internal static int Index(long micros)
    {
        if (micros < Exact)
        {
            return (int)micros;
        }

        // Keep the top ExactBits bits: the mantissa lies in [Half, Exact) after the shift.
        var shift = 63 - BitOperations.LeadingZeroCount((ulong)micros) - (ExactBits - 1);
        return Exact + (shift - 1) * Half + (int)((micros >> shift) - Half);
    }

    internal static long UpperBound(int index)
    {
        if (index < Exact)
        {
            return index;
        }

        var shift = (index - Exact) / Half + 1;
        var mantissa = (index - Exact) % Half + Half;
        return ((mantissa + 1L) << shift) - 1;
    }
}
