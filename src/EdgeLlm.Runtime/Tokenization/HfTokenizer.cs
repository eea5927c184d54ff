using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tokenization;

/// <summary>
/// A Hugging Face fast tokenizer read from a folder's <c>tokenizer.json</c> and <c>tokenizer_config.json</c>,
/// giving the same ids and text as Hugging Face: added tokens are split out first, each stretch between
/// them is normalized, pre-tokenized and run through BPE, then the post-processor adds special tokens.
/// Everything is driven by the files (no per-family code). Thread-safe; load once and share.
/// </summary>
internal sealed class HfTokenizer
{
    private readonly Normalizer? normalizer;
    private readonly PreTokenizer? preTokenizer;
    private readonly BpeModel model;
    private readonly PostProcessor? postProcessor;
    private readonly TokenDecoder? decoder;
    private readonly AddedTokenSplitter rawSplitter;
    private readonly AddedTokenSplitter? normalizedSplitter;
    private readonly Dictionary<string, int> addedByContent;
    private readonly string?[] idToToken;
    private readonly bool[] special;
    private readonly bool cleanUpSpaces;

    private HfTokenizer(Parts p)
    {
        normalizer = p.Normalizer;
        preTokenizer = p.PreTokenizer;
        model = p.Model;
        postProcessor = p.PostProcessor;
        decoder = p.Decoder;
        addedByContent = p.AddedByContent;
        idToToken = p.IdToToken;
        special = p.Special;
        cleanUpSpaces = p.CleanUpSpaces;
        BosToken = p.BosToken;
        EosToken = p.EosToken;
        rawSplitter = new AddedTokenSplitter(p.Added.Where(t => !t.Normalized || normalizer is null).Select(t => (t.Content, t)));
        var normalized = p.Added.Where(t => t.Normalized && normalizer is not null).Select(t => (normalizer!.Normalize(t.Content), t)).ToList();
        normalizedSplitter = normalized.Count > 0 ? new AddedTokenSplitter(normalized) : null;
        BosTokenId = BosToken is null ? null : TokenToId(BosToken);
        EosTokenId = EosToken is null ? null : TokenToId(EosToken);
    }

    /// <summary>Highest token id + 1, counting added tokens.</summary>
    public int VocabSize => idToToken.Length;

    /// <summary><c>bos_token</c> from tokenizer_config.json (a string or <c>{content}</c>); null when absent.</summary>
    public string? BosToken { get; }

    /// <summary><c>eos_token</c> from tokenizer_config.json (a string or <c>{content}</c>); null when absent.</summary>
    public string? EosToken { get; }

    public int? BosTokenId { get; }

    public int? EosTokenId { get; }

    /// <summary>Reads <c>tokenizer.json</c> and <c>tokenizer_config.json</c> from <paramref name="folder"/>.</summary>
    /// <exception cref="ModelFolderException">A file is missing or malformed; the message names the file and field.</exception>
    public static HfTokenizer Load(string folder)
    {
        var tokenizerPath = Path.GetFullPath(Path.Combine(folder, "tokenizer.json"));
        var configPath = Path.GetFullPath(Path.Combine(folder, "tokenizer_config.json"));
        using var tokenizerDoc = ReadJson(tokenizerPath);
        using var configDoc = ReadJson(configPath);
        return new HfTokenizer(TokenizerFiles.Read(tokenizerDoc.RootElement, new JsonFieldReader(tokenizerPath), configDoc.RootElement, new JsonFieldReader(configPath)));
    }

    /// <summary>The ids of <paramref name="text"/>, like Hugging Face's <c>tokenizer.encode(text)</c>.</summary>
    /// <param name="text">Any text; added and special tokens written in it (e.g. <c>&lt;|im_start|&gt;</c>) become their ids.</param>
    /// <param name="addSpecialTokens">Default true: let the post-processor add BOS etc.; false gives the bare encoding.</param>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        var sections = new List<(string Text, AddedToken? Token)>();
        rawSplitter.Split(text, sections);
        List<(string Text, AddedToken? Token)>? inner = null;
        for (var s = 0; s < sections.Count; s++)
        {
            var (segment, token) = sections[s];
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }

            if (segment.Length == 0)
            {
                continue;
            }

            var normalized = normalizer?.Normalize(segment) ?? segment;
            if (normalizedSplitter is null)
            {
                EncodeStretch(normalized, s == 0, ids);
                continue;
            }

            inner ??= [];
            inner.Clear();
            normalizedSplitter.Split(normalized, inner);
            foreach (var (piece, innerToken) in inner)
            {
                if (innerToken is not null)
                {
                    ids.Add(innerToken.Id);
                }
                else
                {
                    EncodeStretch(piece, s == 0, ids);
                }
            }
        }

        return postProcessor is null ? [.. ids] : [.. postProcessor.Process(ids, addSpecialTokens)];
    }

    /// <summary>The text of <paramref name="ids"/>, like Hugging Face's <c>tokenizer.decode(ids)</c>; unknown ids are ignored.</summary>
    /// <param name="ids">Token ids.</param>
    /// <param name="skipSpecialTokens">Default false; true leaves out special tokens (BOS, EOS, <c>&lt;|im_end|&gt;</c>, …).</param>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) => CleanUp(DecodeRaw(ids, skipSpecialTokens));

    /// <summary>A decoder for ids that arrive one at a time (generation); by default special tokens are left out.</summary>
    public TokenStreamDecoder CreateStreamDecoder(bool skipSpecialTokens = true) => new(this, skipSpecialTokens);

    public int? TokenToId(string token) =>
        addedByContent.TryGetValue(token, out var id) ? id : model.Vocab.TryGetValue(token, out id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)idToToken.Length ? idToToken[id] : null;

    /// <summary>True for added tokens marked special and for the config's <c>additional_special_tokens</c>.</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)special.Length && special[id];

    /// <summary>The decoder's text before clean-up of tokenization spaces.</summary>
    internal string DecodeRaw(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            if (IdToToken(id) is { } token && !(skipSpecialTokens && special[id]))
            {
                tokens.Add(token);
            }
        }

        return decoder is null ? string.Join(' ', tokens) : string.Concat(decoder.DecodeChain(tokens));
    }

    internal bool CleansUpSpaces => cleanUpSpaces;

    /// <summary>
    /// Hugging Face's <c>clean_up_tokenization</c> (on when tokenizer_config.json's
    /// <c>clean_up_tokenization_spaces</c> is true; off when false or absent): drops the space before punctuation and contractions.
    /// </summary>
    internal string CleanUp(string text) => cleanUpSpaces ? CleanUpTokenization(text) : text;

    internal static string CleanUpTokenization(string text) =>
        text.Replace(" .", ".", StringComparison.Ordinal)
            .Replace(" ?", "?", StringComparison.Ordinal)
            .Replace(" !", "!", StringComparison.Ordinal)
            .Replace(" ,", ",", StringComparison.Ordinal)
            .Replace(" ' ", "'", StringComparison.Ordinal)
            .Replace(" n't", "n't", StringComparison.Ordinal)
            .Replace(" 'm", "'m", StringComparison.Ordinal)
            .Replace(" 's", "'s", StringComparison.Ordinal)
            .Replace(" 've", "'ve", StringComparison.Ordinal)
            .Replace(" 're", "'re", StringComparison.Ordinal);

    private void EncodeStretch(string text, bool firstSection, List<int> ids)
    {
        if (text.Length == 0)
        {
            return;
        }

        if (preTokenizer is null)
        {
            model.Encode(text, ids);
            return;
        }

        foreach (var word in preTokenizer.Apply([text], firstSection))
        {
            model.Encode(word, ids);
        }
    }

    private static JsonDocument ReadJson(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelFolderException(path, null, "is missing: a model folder needs Hugging Face's tokenizer.json and tokenizer_config.json (copy them from the model's repository)");
        }

        try
        {
            using var stream = File.OpenRead(path);
            var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new ModelFolderException(path, null, "must hold a JSON object");
            }

            return doc;
        }
        catch (JsonException ex)
        {
            throw new ModelFolderException(path, null, $"is not valid JSON ({ex.Message})", ex);
        }
        catch (IOException ex)
        {
            throw new ModelFolderException(path, null, $"cannot be read ({ex.Message})", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ModelFolderException(path, null, $"cannot be read ({ex.Message})", ex);
        }
    }

    private sealed record Parts(
        Normalizer? Normalizer,
        PreTokenizer? PreTokenizer,
        BpeModel Model,
        PostProcessor? PostProcessor,
        TokenDecoder? Decoder,
        List<AddedToken> Added,
        Dictionary<string, int> AddedByContent,
        string?[] IdToToken,
        bool[] Special,
        bool CleanUpSpaces,
        string? BosToken,
        string? EosToken);

    /// <summary>Turns the two JSON documents into tokenizer parts, failing with the file and field at fault.</summary>
    private static class TokenizerFiles
    {
        public static Parts Read(JsonElement root, JsonFieldReader reader, JsonElement config, JsonFieldReader configReader)
        {
            var model = BpeModel.Parse(reader.Object(root, "model"), reader);
            var added = ReadAddedTokens(root, reader);
            var addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var t in added)
            {
                addedByContent[t.Content] = t.Id;
            }

            var maxId = -1;
            foreach (var id in model.Vocab.Values)
            {
                maxId = Math.Max(maxId, id);
            }

            foreach (var t in added)
            {
                maxId = Math.Max(maxId, t.Id);
            }

            var idToToken = new string?[maxId + 1];
            foreach (var (token, id) in model.Vocab)
            {
                idToToken[id] = token;
            }

            foreach (var t in added)
            {
                idToToken[t.Id] = t.Content;
            }

            var special = new bool[maxId + 1];
            foreach (var t in added.Where(t => t.Special))
            {
                special[t.Id] = true;
            }

            int? Lookup(string token) => addedByContent.TryGetValue(token, out var id) ? id : model.Vocab.TryGetValue(token, out id) ? id : null;
            foreach (var extra in ReadTokenList(config, configReader, "additional_special_tokens"))
            {
                if (Lookup(extra) is { } id)
                {
                    special[id] = true;
                }
            }

            var addedContents = new HashSet<string>(added.Select(t => t.Content), StringComparer.Ordinal);
            return new Parts(
                Normalizer.Parse(Property(root, "normalizer"), reader, "normalizer"),
                PreTokenizer.Parse(Property(root, "pre_tokenizer"), reader, "pre_tokenizer"),
                model,
                PostProcessor.Parse(Property(root, "post_processor"), reader, "post_processor", Lookup),
                TokenDecoder.Parse(Property(root, "decoder"), reader, "decoder", addedContents),
                added,
                addedByContent,
                idToToken,
                special,
                // Absent means off, as in Python transformers since 4.45 (transformers.js still assumes on).
                configReader.OptionalBool(config, "clean_up_tokenization_spaces") ?? false,
                ReadToken(config, configReader, "bos_token"),
                ReadToken(config, configReader, "eos_token"));
        }

        private static JsonElement Property(JsonElement root, string name) =>
            root.TryGetProperty(name, out var v) ? v : default;

        private static List<AddedToken> ReadAddedTokens(JsonElement root, JsonFieldReader reader)
        {
            var result = new List<AddedToken>();
            if (!root.TryGetProperty("added_tokens", out var list) || list.ValueKind == JsonValueKind.Null)
            {
                return result;
            }

            reader.RequireKind(list, "added_tokens", JsonValueKind.Array);
            var i = 0;
            foreach (var item in list.EnumerateArray())
            {
                var field = $"added_tokens[{i++}]";
                reader.RequireKind(item, field, JsonValueKind.Object);
                var id = reader.OptionalInt(item, field + ".id", 0) ?? throw reader.Fail(field + ".id", "is missing");
                var content = reader.String(item, field + ".content");
                var isSpecial = reader.OptionalBool(item, field + ".special") ?? false;
                result.Add(new AddedToken(
                    id,
                    content,
                    isSpecial,
                    reader.OptionalBool(item, field + ".lstrip") ?? false,
                    reader.OptionalBool(item, field + ".rstrip") ?? false,
                    reader.OptionalBool(item, field + ".single_word") ?? false,
                    reader.OptionalBool(item, field + ".normalized") ?? !isSpecial));
            }

            return result;
        }

        /// <summary>A token given as a string or as <c>{"content": …}</c> (an AddedToken object).</summary>
        private static string? ReadToken(JsonElement config, JsonFieldReader reader, string field)
        {
            if (!config.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            return TokenText(v, reader, field);
        }

        private static List<string> ReadTokenList(JsonElement config, JsonFieldReader reader, string field)
        {
            var result = new List<string>();
            if (!config.TryGetProperty(field, out var list) || list.ValueKind == JsonValueKind.Null)
            {
                return result;
            }

            reader.RequireKind(list, field, JsonValueKind.Array);
            var i = 0;
            foreach (var item in list.EnumerateArray())
            {
                result.Add(TokenText(item, reader, $"{field}[{i++}]"));
            }

            return result;
        }

        private static string TokenText(JsonElement v, JsonFieldReader reader, string field)
        {
            if (v.ValueKind == JsonValueKind.String)
            {
                return v.GetString()!;
            }

            if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            {
                return content.GetString()!;
            }

            throw reader.Fail(field, $"expected a token string or {{\"content\": …}}, found {v.GetRawText()}");
        }
    }
}
