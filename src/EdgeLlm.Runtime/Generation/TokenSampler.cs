using System.Buffers;
using System.Numerics.Tensors;

namespace EdgeLlm.Runtime.Generation;

/// <summary>Resolved sampling parameters of one generation.</summary>
/// <param name="DoSample">False: greedy (the most likely token, after the repetition penalty).</param>
/// <param name="Temperature">Divides the logits; 0 means greedy.</param>
/// <param name="TopK">Keep only the K most likely tokens; 0 keeps all.</param>
/// <param name="TopP">Keep the smallest set of most likely tokens whose probability reaches P; 1 keeps all.</param>
/// <param name="RepetitionPenalty">Hugging Face's: positive logits of seen tokens are divided by it, negative ones multiplied; 1 is off.</param>
/// <param name="Seed">Seed of the random generator.</param>
internal readonly record struct SamplingSettings(bool DoSample, float Temperature, int TopK, float TopP, float RepetitionPenalty, ulong Seed)
{
    public static SamplingSettings Greedy => new(false, 1, 0, 1, 1, 0);
}

/// <summary>
/// Picks the next token from a row of logits: greedy, or sampling with temperature, top-k and top-p (in Hugging Face's
/// order: repetition penalty, temperature, top-k, top-p). Scratch buffers are rented once per generation, so a step
/// allocates nothing. Not thread-safe.
/// </summary>
internal sealed class TokenSampler : IDisposable
{
    private const int ScanBlock = 2048;
    private const int NucleusFastPath = 256;

    private readonly int _vocab;
    private readonly SamplingSettings _settings;
    private readonly float[] _scratch;
    private readonly float[] _weights;
    private readonly int[] _order;
    private readonly bool[] _seen;
    private readonly int[] _seenIds;
    private readonly bool _penalize;
    private SamplingRandom _random;
    private int _seenCount;

    public TokenSampler(int vocab, SamplingSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocab, 1);
        _vocab = vocab;
        _settings = settings;
        _random = new SamplingRandom(settings.Seed);
        _scratch = ArrayPool<float>.Shared.Rent(vocab);
        _weights = ArrayPool<float>.Shared.Rent(vocab);
        _order = ArrayPool<int>.Shared.Rent(vocab);
        _penalize = settings.RepetitionPenalty != 1f;
        _seen = _penalize ? ArrayPool<bool>.Shared.Rent(vocab) : [];
        _seenIds = _penalize ? ArrayPool<int>.Shared.Rent(vocab) : [];
        _seen.AsSpan().Clear();
    }

    /// <summary>Records tokens of the prompt or output for the repetition penalty.</summary>
    public void Observe(ReadOnlySpan<int> tokens)
    {
        foreach (var token in tokens)
        {
            Observe(token);
        }
    }

    /// <summary>Records a token of the prompt or output for the repetition penalty.</summary>
    public void Observe(int token)
    {
        if (_penalize && (uint)token < (uint)_vocab && !_seen[token])
        {
            _seen[token] = true;
            _seenIds[_seenCount++] = token;
        }
    }

    /// <summary>Chooses the next token from <paramref name="logits"/> (one row, the vocabulary's length).</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.Length != _vocab)
        {
            throw new ArgumentException($"Expected {_vocab} logits, got {logits.Length}.", nameof(logits));
        }

        var greedy = !_settings.DoSample || _settings.Temperature <= 0;
        if (greedy && (!_penalize || _seenCount == 0))
        {
            return TensorPrimitives.IndexOfMax(logits);
        }

        var scores = _scratch.AsSpan(0, _vocab);
        logits.CopyTo(scores);
        ApplyPenalty(scores);
        if (greedy)
        {
            return TensorPrimitives.IndexOfMax(scores);
        }

        if (_settings.Temperature != 1f)
        {
            TensorPrimitives.Multiply(scores, 1f / _settings.Temperature, scores);
        }

        var k = _settings.TopK > 0 && _settings.TopK < _vocab ? _settings.TopK : _vocab;
        if (k < _vocab)
        {
            return SampleTopK(scores, k);
        }

        return _settings.TopP < 1f ? SampleNucleus(scores) : SampleAll(scores);
    }

    /// <summary>The natural log of the probability of <paramref name="token"/> under the softmax of <paramref name="logits"/>.</summary>
    public float LogProbability(ReadOnlySpan<float> logits, int token)
    {
        var max = TensorPrimitives.Max(logits);
        var weights = _weights.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, weights);
        TensorPrimitives.Exp(weights, weights);
        return logits[token] - max - MathF.Log(TensorPrimitives.Sum(weights));
    }

    private void ApplyPenalty(Span<float> scores)
    {
        var penalty = _settings.RepetitionPenalty;
        for (var i = 0; i < _seenCount; i++)
        {
            ref var score = ref scores[_seenIds[i]];
            score = score < 0 ? score * penalty : score / penalty;
        }
    }

    private int SampleAll(Span<float> scores)
    {
        var weights = Exponentiate(scores);
        var target = _random.NextDouble() * TensorPrimitives.Sum(weights);

        // Skip whole blocks by their (vectorized) sums, then walk the block that holds the target.
        var cumulative = 0.0;
        var start = 0;
        for (; start + ScanBlock < weights.Length; start += ScanBlock)
        {
            var block = TensorPrimitives.Sum(weights.Slice(start, ScanBlock));
            if (cumulative + block > target)
            {
                break;
            }

            cumulative += block;
        }

        var last = start;
        for (var i = start; i < weights.Length; i++)
        {
            if (weights[i] > 0)
            {
                cumulative += weights[i];
                last = i;
                if (cumulative > target)
                {
                    return i;
                }
            }
        }

        return last;
    }

    private int SampleTopK(Span<float> scores, int k)
    {
        var order = SelectTopK(scores, k);
        var max = scores[order[0]];
        var weights = _weights.AsSpan(0, _vocab);
        var total = 0.0;
        foreach (var id in order)
        {
            weights[id] = MathF.Exp(scores[id] - max);
            total += weights[id];
        }

        return Draw(order[..Prefix(order, weights, _settings.TopP * total, out var mass)], weights, mass);
    }

    private int SampleNucleus(Span<float> scores)
    {
        var weights = Exponentiate(scores);
        var need = _settings.TopP * (double)TensorPrimitives.Sum(weights);

        // A language model's nucleus is usually a few dozen tokens: look among the most likely few hundred first.
        var fast = SelectTopK(weights, Math.Min(NucleusFastPath, weights.Length));
        var end = Prefix(fast, weights, need, out var mass);
        if (mass >= need || end == weights.Length)
        {
            return Draw(fast[..end], weights, mass);
        }

        // The nucleus is the smallest set of most likely tokens whose mass reaches top_p. Its members need no
        // order for the draw, so a selection by mass finds it in expected O(V), where sorting 150k ids would
        // cost milliseconds. Weights and ids move together (the scores' buffer is free now) so that the passes
        // read memory in order. Invariant: [0, lo) is in the nucleus (mass `kept`), [hi, V) is not.
        var keys = scores;
        weights.CopyTo(keys);
        var ids = _order.AsSpan(0, keys.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = i;
        }

        var kept = 0.0;
        int lo = 0, hi = ids.Length;
        while (true)
        {
            if (hi - lo <= 32)
            {
                SortDescending(keys[lo..hi], ids[lo..hi]);
                end = lo + Prefix(ids[lo..hi], weights, need - kept, out _);
                break;
            }

            var pivot = MedianOfThree(keys[lo], keys[(lo + hi) / 2], keys[hi - 1]);
            var (greaterEnd, lessStart, greaterMass) = Partition(keys, ids, lo, hi, pivot);
            var equalMass = (double)pivot * (lessStart - greaterEnd);
            if (kept + greaterMass >= need)
            {
                hi = greaterEnd;
            }
            else if (kept + greaterMass + equalMass >= need)
            {
                var equalNeeded = (int)Math.Ceiling((need - kept - greaterMass) / pivot);
                end = greaterEnd + Math.Clamp(equalNeeded, 1, lessStart - greaterEnd);
                break;
            }
            else
            {
                kept += greaterMass + equalMass;
                lo = lessStart;
            }
        }

        end = Math.Max(end, 1);
        return Draw(ids[..end], weights, TensorPrimitives.Sum(keys[..end]));
    }

    /// <summary>The ids of the <paramref name="k"/> largest keys, from largest to smallest (a min-heap of the best so far, then heapsort).</summary>
    private Span<int> SelectTopK(ReadOnlySpan<float> keys, int k)
    {
        var order = _order.AsSpan(0, k);
        for (var i = 0; i < k; i++)
        {
            order[i] = i;
        }

        for (var i = (k / 2) - 1; i >= 0; i--)
        {
            SiftDown(order, i, k, keys);
        }

        for (var i = k; i < keys.Length; i++)
        {
            if (keys[i] > keys[order[0]])
            {
                order[0] = i;
                SiftDown(order, 0, k, keys);
            }
        }

        for (var end = k - 1; end > 0; end--)
        {
            (order[0], order[end]) = (order[end], order[0]);
            SiftDown(order, 0, end, keys);
        }

        return order;
    }

    /// <summary>Length of the shortest prefix of <paramref name="sorted"/> (most likely first) whose mass reaches <paramref name="need"/>, or all of it.</summary>
    private static int Prefix(ReadOnlySpan<int> sorted, ReadOnlySpan<float> weights, double need, out double mass)
    {
        mass = 0.0;
        for (var i = 0; i < sorted.Length; i++)
        {
            mass += weights[sorted[i]];
            if (mass >= need)
            {
                return i + 1;
            }
        }

        return sorted.Length;
    }

    /// <summary>Draws one of <paramref name="ids"/> with probability proportional to its weight; <paramref name="mass"/> is their sum.</summary>
    private int Draw(ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, double mass)
    {
        var target = _random.NextDouble() * mass;
        var cumulative = 0.0;
        foreach (var id in ids)
        {
            cumulative += weights[id];
            if (cumulative > target)
            {
                return id;
            }
        }

        return ids[^1];
    }

    /// <summary>Insertion sort of a short run, largest key first, moving the ids along.</summary>
    private static void SortDescending(Span<float> keys, Span<int> ids)
    {
        for (var i = 1; i < keys.Length; i++)
        {
            var key = keys[i];
            var id = ids[i];
            var j = i - 1;
            for (; j >= 0 && keys[j] < key; j--)
            {
                keys[j + 1] = keys[j];
                ids[j + 1] = ids[j];
            }

            keys[j + 1] = key;
            ids[j + 1] = id;
        }
    }

    /// <summary>Three-way partition of [lo, hi): keys above the pivot first, then equal, then below; ids move along.</summary>
    private static (int GreaterEnd, int LessStart, double GreaterMass) Partition(Span<float> keys, Span<int> ids, int lo, int hi, float pivot)
    {
        int greater = lo, i = lo, less = hi;
        var mass = 0.0;
        while (i < less)
        {
            var key = keys[i];
            if (key > pivot)
            {
                (keys[greater], keys[i]) = (key, keys[greater]);
                (ids[greater], ids[i]) = (ids[i], ids[greater]);
                mass += key;
                greater++;
                i++;
            }
            else if (key < pivot)
            {
                less--;
                (keys[i], keys[less]) = (keys[less], key);
                (ids[i], ids[less]) = (ids[less], ids[i]);
            }
            else
            {
                i++;
            }
        }

        return (greater, less, mass);
    }

    private static float MedianOfThree(float a, float b, float c) =>
        Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));

    private Span<float> Exponentiate(ReadOnlySpan<float> scores)
    {
        var weights = _weights.AsSpan(0, scores.Length);
        TensorPrimitives.Subtract(scores, TensorPrimitives.Max(scores), weights);
        TensorPrimitives.Exp(weights, weights);
        return weights;
    }

    /// <summary>Restores the min-heap order below <paramref name="index"/>, keyed by <paramref name="keys"/>.</summary>
    private static void SiftDown(Span<int> heap, int index, int count, ReadOnlySpan<float> keys)
    {
        while (true)
        {
            var child = (2 * index) + 1;
            if (child >= count)
            {
                return;
            }

            if (child + 1 < count && keys[heap[child + 1]] < keys[heap[child]])
            {
                child++;
            }

            if (keys[heap[child]] >= keys[heap[index]])
            {
                return;
            }

            (heap[index], heap[child]) = (heap[child], heap[index]);
            index = child;
        }
    }

    public void Dispose()
    {
        ArrayPool<float>.Shared.Return(_scratch);
        ArrayPool<float>.Shared.Return(_weights);
        ArrayPool<int>.Shared.Return(_order);
        if (_penalize)
        {
            ArrayPool<bool>.Shared.Return(_seen);
            ArrayPool<int>.Shared.Return(_seenIds);
        }
    }
}
