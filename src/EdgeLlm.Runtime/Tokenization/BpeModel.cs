using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>
/// tokenizer.json's <c>BPE</c> model: a word starts as one symbol per character (or per UTF-8 byte with
/// <c>byte_fallback</c> when the character is not in the vocabulary), then the lowest-ranked adjacent merge
/// is applied until none is left, the leftmost first on equal ranks. Results are cached per word.
/// </summary>
internal sealed class BpeModel
{
    private const int CacheLimit = 100_000;
    private const int MaxCachedWordLength = 256;
    private const int ShortWord = 128;

    private readonly Dictionary<string, int> vocab;
    private readonly Dictionary<long, (int Rank, int Id)> merges;
    private readonly int? unkId;
    private readonly bool fuseUnk;
    private readonly bool ignoreMerges;
    private readonly string continuingSubwordPrefix;
    private readonly string endOfWordSuffix;
    private readonly int[]? byteIds;
    private readonly ConcurrentDictionary<string, int[]> cache = new(StringComparer.Ordinal);
    private int cachedWords;

    // Id of each single BMP character that is itself a token (-1 otherwise), so words start without string lookups.
    private readonly int[] charIds;

    private BpeModel(Dictionary<string, int> vocab, Dictionary<long, (int, int)> merges, int? unkId, bool fuseUnk, bool ignoreMerges,
        string continuingSubwordPrefix, string endOfWordSuffix, int[]? byteIds)
    {
        this.vocab = vocab;
        this.merges = merges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        this.continuingSubwordPrefix = continuingSubwordPrefix;
        this.endOfWordSuffix = endOfWordSuffix;
        this.byteIds = byteIds;
        charIds = new int[char.MaxValue + 1];
        Array.Fill(charIds, -1);
        foreach (var (token, id) in vocab)
        {
            if (token.Length == 1)
            {
                charIds[token[0]] = id;
            }
        }
    }

    public IReadOnlyDictionary<string, int> Vocab => vocab;

    public static BpeModel Parse(JsonElement model, JsonFieldReader reader)
    {
        var type = reader.OptionalString(model, "model.type") ?? "BPE";
        if (type != "BPE")
        {
            throw reader.Fail("model.type", $"model '{type}' is not supported (only BPE: Qwen, Llama, Phi, Mistral, SmolLM, Gemma)");
        }

        var vocabElement = reader.Object(model, "model.vocab");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
            {
                throw reader.Fail("model.vocab", $"token '{p.Name}' has id {p.Value.GetRawText()}, expected a non-negative integer");
            }

            vocab[p.Name] = id;
        }

        if (vocab.Count == 0)
        {
            throw reader.Fail("model.vocab", "is empty");
        }

        if (!model.TryGetProperty("merges", out var mergeList) || mergeList.ValueKind != JsonValueKind.Array)
        {
            throw reader.Fail("model.merges", "is missing or not a list");
        }

        var prefix = OptionalToken(model, reader, "model.continuing_subword_prefix") ?? "";
        var merges = new Dictionary<long, (int, int)>(mergeList.GetArrayLength());
        var rank = 0;
        foreach (var m in mergeList.EnumerateArray())
        {
            var (left, right) = ReadMerge(m, reader, rank);
            if (vocab.TryGetValue(left, out var l) && vocab.TryGetValue(right, out var r) && vocab.TryGetValue(left + (prefix.Length > 0 && right.StartsWith(prefix, StringComparison.Ordinal) ? right[prefix.Length..] : right), out var merged))
            {
                merges.TryAdd(Key(l, r), (rank, merged));
            }
            else
            {
                throw reader.Fail($"model.merges[{rank}]", $"merge '{left} {right}' names a token that is not in model.vocab");
            }

            rank++;
        }

        var unkToken = OptionalToken(model, reader, "model.unk_token");
        int? unkId = null;
        if (unkToken is not null)
        {
            unkId = vocab.TryGetValue(unkToken, out var u) ? u : throw reader.Fail("model.unk_token", $"'{unkToken}' is not in model.vocab");
        }

        int[]? byteIds = null;
        if (reader.OptionalBool(model, "model.byte_fallback") ?? false)
        {
            byteIds = new int[256];
            for (var b = 0; b < 256; b++)
            {
                byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
            }
        }

        return new BpeModel(
            vocab,
            merges,
            unkId,
            reader.OptionalBool(model, "model.fuse_unk") ?? false,
            reader.OptionalBool(model, "model.ignore_merges") ?? false,
            prefix,
            OptionalToken(model, reader, "model.end_of_word_suffix") ?? "",
            byteIds);
    }

    // Words missing from the cache are rare once a service is warm, so tiered compilation would leave
    // this path at its slow first tier for the whole of a first long prompt: compile it optimized at once.

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void Encode(string word, List<int> output)
    {
        if (word.Length == 0)
        {
            return;
        }

        if (ignoreMerges && vocab.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            return;
        }

        if (!cache.TryGetValue(word, out var ids))
        {
            ids = EncodeUncached(word);
            if (word.Length < MaxCachedWordLength)
            {
                // ConcurrentDictionary.Count takes every lock, so the size is tracked separately.
                if (Interlocked.Increment(ref cachedWords) > CacheLimit)
                {
                    cache.Clear();
                    Interlocked.Exchange(ref cachedWords, 0);
                }

                cache[word] = ids;
            }
        }

        output.AddRange(ids);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int[] EncodeUncached(string word)
    {
        var symbols = InitialSymbols(word);
        var n = symbols.Count;
        if (n > 1 && n <= ShortWord)
        {
            return MergeShort(symbols);
        }

        if (n > 1)
        {
            Merge(symbols);
        }

        var result = new List<int>(n);
        foreach (var id in symbols)
        {
            if (id >= 0)
            {
                result.Add(id);
            }
        }

        return [.. result];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        var lastWasUnk = false;
        for (var i = 0; i < word.Length;)
        {
            var len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            if (TokenForCharacter(word, i, len) is var id && id >= 0)
            {
                symbols.Add(id);
                lastWasUnk = false;
            }
            else if (byteIds is not null && TryAddBytes(word.AsSpan(i, len), symbols))
            {
                lastWasUnk = false;
            }
            else if (unkId is { } unk)
            {
                if (!(fuseUnk && lastWasUnk))
                {
                    symbols.Add(unk);
                }

                lastWasUnk = true;
            }

            i += len;
        }

        return symbols;
    }

    private int TokenForCharacter(string word, int i, int len)
    {
        var affixed = (i > 0 && continuingSubwordPrefix.Length > 0) || (i + len >= word.Length && endOfWordSuffix.Length > 0);
        if (len == 1 && !affixed)
        {
            return charIds[word[i]];
        }

        var piece = word.Substring(i, len);
        if (i > 0 && continuingSubwordPrefix.Length > 0)
        {
            piece = continuingSubwordPrefix + piece;
        }

        if (i + len >= word.Length && endOfWordSuffix.Length > 0)
        {
            piece += endOfWordSuffix;
        }

        return vocab.TryGetValue(piece, out var id) ? id : -1;
    }

    /// <summary>
    /// Short words (nearly all): keep each adjacent pair's rank in a local array and rescan it for the
    /// best pair after each merge; only the two pairs touching a merge are looked up again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int[] MergeShort(List<int> symbols)
    {
        var count = symbols.Count;
        Span<int> ids = stackalloc int[count];
        Span<int> ranks = stackalloc int[count];
        Span<int> mergedIds = stackalloc int[count];
        symbols.CopyTo(ids);
        for (var i = 0; i + 1 < count; i++)
        {
            LookUpPair(ids, ranks, mergedIds, i);
        }

        while (count > 1)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i + 1 < count; i++)
            {
                if (ranks[i] < bestRank)
                {
                    (best, bestRank) = (i, ranks[i]);
                }
            }

            if (best < 0)
            {
                break;
            }

            ids[best] = mergedIds[best];
            ids[(best + 2)..count].CopyTo(ids[(best + 1)..]);
            ranks[(best + 2)..count].CopyTo(ranks[(best + 1)..]);
            mergedIds[(best + 2)..count].CopyTo(mergedIds[(best + 1)..]);
            count--;
            if (best + 1 < count)
            {
                LookUpPair(ids, ranks, mergedIds, best);
            }
            else
            {
                ranks[best] = int.MaxValue;
            }

            if (best > 0)
            {
                LookUpPair(ids, ranks, mergedIds, best - 1);
            }
        }

        return ids[..count].ToArray();
    }

    private void LookUpPair(Span<int> ids, Span<int> ranks, Span<int> mergedIds, int i)
    {
        if (merges.TryGetValue(Key(ids[i], ids[i + 1]), out var m))
        {
            ranks[i] = m.Rank;
            mergedIds[i] = m.Id;
        }
        else
        {
            ranks[i] = int.MaxValue;
        }
    }

    private bool TryAddBytes(ReadOnlySpan<char> c, List<int> symbols)
    {
        Span<byte> bytes = stackalloc byte[8];
        var count = Encoding.UTF8.GetBytes(c, bytes);
        for (var k = 0; k < count; k++)
        {
            if (byteIds![bytes[k]] < 0)
            {
                return false;
            }
        }

        for (var k = 0; k < count; k++)
        {
            symbols.Add(byteIds![bytes[k]]);
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Merge(List<int> ids)
    {
        var n = ids.Count;
        var next = new int[n];
        var prev = new int[n];
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }

        var queue = new PriorityQueue<int, long>();
        for (var i = 0; i + 1 < n; i++)
        {
            Enqueue(queue, ids, i, i + 1);
        }

        while (queue.TryDequeue(out var pos, out var priority))
        {
            var right = next[pos];
            if (ids[pos] < 0 || right < 0 ||
                !merges.TryGetValue(Key(ids[pos], ids[right]), out var merge) || merge.Rank != (int)(priority >> 32))
            {
                continue; // stale: one side was merged away since this pair was queued
            }

            ids[pos] = merge.Id;
            ids[right] = -1;
            next[pos] = next[right];
            if (next[pos] >= 0)
            {
                prev[next[pos]] = pos;
                Enqueue(queue, ids, pos, next[pos]);
            }

            if (prev[pos] >= 0)
            {
                Enqueue(queue, ids, prev[pos], pos);
            }
        }
    }

    private void Enqueue(PriorityQueue<int, long> queue, List<int> ids, int left, int right)
    {
        if (merges.TryGetValue(Key(ids[left], ids[right]), out var merge))
        {
            queue.Enqueue(left, ((long)merge.Rank << 32) | (uint)left);
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private static (string Left, string Right) ReadMerge(JsonElement m, JsonFieldReader reader, int index)
    {
        if (m.ValueKind == JsonValueKind.String)
        {
            var s = m.GetString()!;
            var space = s.IndexOf(' ', 1);
            if (space > 0)
            {
                return (s[..space], s[(space + 1)..]);
            }
        }
        else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 &&
                 m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
        {
            return (m[0].GetString()!, m[1].GetString()!);
        }

        throw reader.Fail($"model.merges[{index}]", $"expected \"left right\" or [\"left\", \"right\"], found {m.GetRawText()}");
    }

    private static string? OptionalToken(JsonElement model, JsonFieldReader reader, string field)
    {
        var name = field[(field.LastIndexOf('.') + 1)..];
        if (!model.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        reader.RequireKind(v, field, JsonValueKind.String);
        var s = v.GetString()!;
        return s.Length == 0 ? null : s;
    }
}
