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
        var cumulative = 0.0;
        var last = 0;
        for (var i = 0; i < weights.Length; i++)
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
        // A min-heap of the k best so far, then heapsort: order[0..k) ends up from most to least likely.
        var order = _order.AsSpan(0, k);
        for (var i = 0; i < k; i++)
        {
            order[i] = i;
        }

        for (var i = (k / 2) - 1; i >= 0; i--)
        {
            SiftDown(order, i, k, scores, minHeap: true);
        }

        for (var i = k; i < scores.Length; i++)
        {
            if (scores[i] > scores[order[0]])
            {
                order[0] = i;
                SiftDown(order, 0, k, scores, minHeap: true);
            }
        }

        for (var end = k - 1; end > 0; end--)
        {
            (order[0], order[end]) = (order[end], order[0]);
            SiftDown(order, 0, end, scores, minHeap: true);
        }

        var max = scores[order[0]];
        var weights = _weights.AsSpan(0, k);
        var total = 0.0;
        for (var j = 0; j < k; j++)
        {
            weights[j] = MathF.Exp(scores[order[j]] - max);
            total += weights[j];
        }

        var kept = k;
        var mass = total;
        if (_settings.TopP < 1f)
        {
            var threshold = _settings.TopP * total;
            mass = 0;
            for (kept = 0; kept < k;)
            {
                mass += weights[kept++];
                if (mass >= threshold)
                {
                    break;
                }
            }
        }

        var target = _random.NextDouble() * mass;
        var cumulative = 0.0;
        for (var j = 0; j < kept; j++)
        {
            cumulative += weights[j];
            if (cumulative > target)
            {
                return order[j];
            }
        }

        return order[kept - 1];
    }

    private int SampleNucleus(Span<float> scores)
    {
        var weights = Exponentiate(scores);
        var total = 0.0;
        foreach (var w in weights)
        {
            total += w;
        }

        // Heapify all ids by weight (O(V)), then pop the most likely until the kept mass reaches top_p.
        // Popped ids collect at the end of the array, most likely first: order[n-1], order[n-2], ..., order[end].
        var n = weights.Length;
        var order = _order.AsSpan(0, n);
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
        }

        for (var i = (n / 2) - 1; i >= 0; i--)
        {
            SiftDown(order, i, n, weights, minHeap: false);
        }

        var threshold = _settings.TopP * total;
        var mass = 0.0;
        var end = n;
        while (end > 0)
        {
            end--;
            (order[0], order[end]) = (order[end], order[0]);
            SiftDown(order, 0, end, weights, minHeap: false);
            mass += weights[order[end]];
            if (mass >= threshold)
            {
                break;
            }
        }

        var target = _random.NextDouble() * mass;
        var cumulative = 0.0;
        for (var j = n - 1; j >= end; j--)
        {
            cumulative += weights[order[j]];
            if (cumulative > target)
            {
                return order[j];
            }
        }

        return order[end];
    }

    private Span<float> Exponentiate(ReadOnlySpan<float> scores)
    {
        var weights = _weights.AsSpan(0, scores.Length);
        TensorPrimitives.Subtract(scores, TensorPrimitives.Max(scores), weights);
        TensorPrimitives.Exp(weights, weights);
        return weights;
    }

    private static void SiftDown(Span<int> heap, int index, int count, ReadOnlySpan<float> keys, bool minHeap)
    {
        while (true)
        {
            var child = (2 * index) + 1;
            if (child >= count)
            {
                return;
            }

            if (child + 1 < count && Before(keys[heap[child + 1]], keys[heap[child]], minHeap))
            {
                child++;
            }

            if (!Before(keys[heap[child]], keys[heap[index]], minHeap))
            {
                return;
            }

            (heap[index], heap[child]) = (heap[child], heap[index]);
            index = child;
        }
    }

    private static bool Before(float a, float b, bool minHeap) => minHeap ? a < b : a > b;

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
