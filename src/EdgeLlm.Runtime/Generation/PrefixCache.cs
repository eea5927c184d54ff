namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// The key/value state of one cached prompt. <see cref="Tensors"/> holds one array per cache tensor (layer by layer,
/// key then value), each [kv_heads, <see cref="Length"/>, head_size] without gaps. Immutable once cached, so a
/// sequence may copy from it while another request evicts it.
/// </summary>
internal sealed class PrefixEntry(int[] tokens, object? adapter, byte[][] tensors)
{
    public int[] Tokens { get; } = tokens;

    /// <summary>The LoRA adapter the state was computed with (null: the base model); a state only serves its own adapter.</summary>
    public object? Adapter { get; } = adapter;

    public byte[][] Tensors { get; } = tensors;

    public int Length => Tokens.Length;

    public long Bytes { get; } = tensors.Sum(t => (long)t.Length);
}

/// <summary>A cached state whose first <see cref="Tokens"/> positions a new prompt can reuse.</summary>
internal readonly record struct PrefixHit(PrefixEntry Entry, int Tokens);

/// <summary>
/// Recent prompts' key/value states, bounded by bytes, least recently used dropped first. A new prompt reuses the
/// longest token-level common prefix with any cached prompt (at least <see cref="MinTokens"/>), so a system prompt
/// is shared by every question that starts with it. Thread-safe.
/// </summary>
internal sealed class PrefixCache(long maxBytes, int minTokens)
{
    private readonly LinkedList<PrefixEntry> _entries = new();
    private readonly Lock _lock = new();
    private long _bytes;

    /// <summary>0 turns the cache off.</summary>
    public long MaxBytes { get; } = Math.Max(0, maxBytes);

    public int MinTokens { get; } = Math.Max(1, minTokens);

    public bool Enabled => MaxBytes > 0;

    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>
    /// The cached state sharing the longest prefix with <paramref name="prompt"/>, capped one token short of the prompt
    /// (the last prompt token must run to produce the first logits), or null when none shares <see cref="MinTokens"/>.
    /// </summary>
    public PrefixHit? Find(ReadOnlySpan<int> prompt, object? adapter)
    {
        if (!Enabled)
        {
            return null;
        }

        lock (_lock)
        {
            LinkedListNode<PrefixEntry>? best = null;
            var bestTokens = 0;
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                if (!ReferenceEquals(node.Value.Adapter, adapter))
                {
                    continue;
                }

                var shared = Math.Min(prompt.CommonPrefixLength(node.Value.Tokens), prompt.Length - 1);
                if (shared > bestTokens)
                {
                    best = node;
                    bestTokens = shared;
                }
            }

            if (best is null || bestTokens < MinTokens)
            {
                return null;
            }

            _entries.Remove(best);
            _entries.AddFirst(best);
            return new PrefixHit(best.Value, bestTokens);
        }
    }

    /// <summary>
    /// Whether a prompt's state is worth storing: long enough, and not already held by an entry that starts with it.
    /// Checked before copying the state out of a sequence, which is the expensive part of <see cref="Add"/>.
    /// </summary>
    public bool ShouldAdd(ReadOnlySpan<int> tokens, object? adapter, long bytes)
    {
        if (!Enabled || tokens.Length < MinTokens || bytes > MaxBytes)
        {
            return false;
        }

        lock (_lock)
        {
            foreach (var entry in _entries)
            {
                if (ReferenceEquals(entry.Adapter, adapter) && entry.Length >= tokens.Length && tokens.CommonPrefixLength(entry.Tokens) == tokens.Length)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Caches <paramref name="entry"/> as the most recent, dropping entries it extends and then the least recently used until it fits.</summary>
    public void Add(PrefixEntry entry)
    {
        if (!Enabled || entry.Bytes > MaxBytes)
        {
            return;
        }

        lock (_lock)
        {
            for (var node = _entries.First; node is not null;)
            {
                var next = node.Next;
                var old = node.Value;
                if (ReferenceEquals(old.Adapter, entry.Adapter) && old.Length <= entry.Length && entry.Tokens.AsSpan().CommonPrefixLength(old.Tokens) == old.Length)
                {
                    Remove(node);
                }

                node = next;
            }

            while (_entries.Last is { } last && _bytes + entry.Bytes > MaxBytes)
            {
                Remove(last);
            }

            _entries.AddFirst(entry);
            _bytes += entry.Bytes;
        }
    }

    /// <summary>Drops every entry (benchmarks measure cold prompts this way).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _entries.Clear();
            _bytes = 0;
        }
    }

    private void Remove(LinkedListNode<PrefixEntry> node)
    {
        _entries.Remove(node);
        _bytes -= node.Value.Bytes;
    }
}
