using System.Collections;
using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>
/// A model's chat template (Jinja), compiled once and rendered like Hugging Face transformers'
/// <c>apply_chat_template(messages, tokenize=False, add_generation_prompt=...)</c>: the same Jinja settings
/// (trim_blocks, lstrip_blocks, break/continue), <c>raise_exception</c>, <c>strftime_now</c>, and a <c>tojson</c>
/// that keeps non-ASCII text. Compiling happens once in <see cref="Load"/> or <see cref="FromSource"/>; <see cref="Render"/>
/// only walks the compiled tree and may be called from several threads at once.
/// </summary>
internal sealed class ChatTemplate
{
    private const string ConfigFile = "tokenizer_config.json";
    private const string JinjaFile = "chat_template.jinja";

    private readonly List<Stmt> _body;
    private readonly string _sourceName;
    private readonly Dictionary<string, object?> _specialTokens;
    private readonly TimeProvider _time;
    private readonly Scope _globals;

    private ChatTemplate(string source, Dictionary<string, object?> specialTokens, string sourceName, TimeProvider? time)
    {
        _body = TemplateParser.Parse(source, sourceName);
        _sourceName = sourceName;
        _specialTokens = specialTokens;
        _time = time ?? TimeProvider.System;
        _globals = CreateGlobals(_time);
        Source = source;
    }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>
    /// Loads the template of a model folder: <c>chat_template.jinja</c> when present (it wins, as in
    /// transformers), otherwise <c>tokenizer_config.json</c>'s <c>chat_template</c> (a string, or a list of
    /// <c>{name, template}</c> of which "default" is used). bos/eos tokens come from tokenizer_config.json.
    /// </summary>
    /// <param name="folder">The model or tokenizer folder.</param>
    /// <param name="time">The clock behind <c>strftime_now</c>; defaults to the system clock.</param>
    /// <exception cref="ModelFolderException">A file is missing or malformed, or there is no template.</exception>
    /// <exception cref="ChatTemplateSyntaxException">The template is not valid Jinja.</exception>
    public static ChatTemplate Load(string folder, TimeProvider? time = null)
    {
        var configPath = Path.Combine(folder, ConfigFile);
        var jinjaPath = Path.Combine(folder, JinjaFile);
        var hasJinja = File.Exists(jinjaPath);
        if (!File.Exists(configPath) && !hasJinja)
        {
            throw new ModelFolderException(configPath, null, $"is missing; a chat template needs {ConfigFile} (or {JinjaFile}) in the model folder");
        }

        Dictionary<string, object?> tokens = [];
        string? template = null;
        if (File.Exists(configPath))
        {
            (tokens, template) = ReadConfig(configPath, needTemplate: !hasJinja);
        }

        if (hasJinja)
        {
            return new ChatTemplate(ReadText(jinjaPath), tokens, jinjaPath, time);
        }

        return new ChatTemplate(template!, tokens, $"{configPath} (chat_template)", time);
    }

    /// <summary>Compiles a template given as text.</summary>
    /// <param name="template">The Jinja source.</param>
    /// <param name="bosToken">The value of <c>bos_token</c>; null leaves it undefined, as transformers does.</param>
    /// <param name="eosToken">The value of <c>eos_token</c>; null leaves it undefined.</param>
    /// <param name="sourceName">Names the template in error messages (a file, a field).</param>
    /// <param name="time">The clock behind <c>strftime_now</c>; defaults to the system clock.</param>
    /// <exception cref="ChatTemplateSyntaxException">The template is not valid Jinja.</exception>
    public static ChatTemplate FromSource(string template, string? bosToken, string? eosToken, string sourceName, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        var tokens = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (bosToken is not null)
        {
            tokens["bos_token"] = bosToken;
        }

        if (eosToken is not null)
        {
            tokens["eos_token"] = eosToken;
        }

        return new ChatTemplate(template, tokens, sourceName, time);
    }

    /// <summary>
    /// Renders a conversation. The template sees <c>messages</c> (a list of <c>{role, content}</c>),
    /// <c>add_generation_prompt</c>, <c>bos_token</c>/<c>eos_token</c> when known, <c>tools</c> and <c>documents</c>
    /// as none, and <paramref name="extraVariables"/> (for example <c>enable_thinking</c>), which override them.
    /// </summary>
    /// <exception cref="ChatTemplateException">Rendering failed, or the template refused the conversation
    /// (its raise_exception message is in <see cref="ChatTemplateException.Problem"/>).</exception>
    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extraVariables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var vars = new Scope(_globals);
        var list = new List<object?>(messages.Count);
        foreach (var m in messages)
        {
            list.Add(new TemplateDict { ["role"] = m.Role, ["content"] = m.Content });
        }

        vars.Set("messages", list);
        vars.Set("add_generation_prompt", addGenerationPrompt);
        vars.Set("tools", null);
        vars.Set("documents", null);
        foreach (var (name, value) in _specialTokens)
        {
            // Lists are copied so a template appending to additional_special_tokens cannot change the next render.
            vars.Set(name, value is List<object?> tokenList ? tokenList.ToList() : value);
        }

        if (extraVariables is not null)
        {
            foreach (var (name, value) in extraVariables)
            {
                vars.Set(name, FromDotNet(value, name));
            }
        }

        var ctx = new RenderContext(new Scope(vars), _time);
        try
        {
            Stmt.ExecuteAll(_body, ctx);
        }
        catch (ChatTemplateLineException e)
        {
            var problem = e.Error.RaisedByTemplate ? $"the template refused the conversation: {e.Error.Message}" : e.Error.Message;
            throw new ChatTemplateException(_sourceName, e.Line, problem, e);
        }
        catch (InsufficientExecutionStackException e)
        {
            throw new ChatTemplateException(_sourceName, 0, "the template recursed too deeply (a macro calling itself without end?)", e);
        }

        return ctx.Output.ToString();
    }

    private static string ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFolderException(path, null, $"cannot be read: {e.Message}", e);
        }
    }

    // transformers renders with every special token of the tokenizer (special_tokens_map) in scope.
    private static readonly string[] SpecialTokenFields = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private static (Dictionary<string, object?> Tokens, string? Template) ReadConfig(string path, bool needTemplate)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(ReadText(path), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ModelFolderException(path, null, $"is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFolderException(path, null, "must hold a JSON object");
            }

            var tokens = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var field in SpecialTokenFields)
            {
                if (root.TryGetProperty(field, out var e) && TokenText(path, e, field) is { } text)
                {
                    tokens[field] = text;
                }
            }

            if (root.TryGetProperty("additional_special_tokens", out var extra) && extra.ValueKind == JsonValueKind.Array)
            {
                tokens["additional_special_tokens"] = extra.EnumerateArray()
                    .Select(e => (object?)TokenText(path, e, "additional_special_tokens")).Where(t => t is not null).ToList();
            }

            string? template = null;
            if (root.TryGetProperty("chat_template", out var t) && t.ValueKind != JsonValueKind.Null)
            {
                template = TemplateText(path, t);
            }
            else if (needTemplate)
            {
                throw new ModelFolderException(path, "chat_template",
                    $"is missing: this tokenizer has no chat template. Add one to {ConfigFile}, or put a {JinjaFile} beside it");
            }

            return (tokens, template);
        }
    }

    private static string TemplateText(string path, JsonElement t)
    {
        switch (t.ValueKind)
        {
            case JsonValueKind.String:
                return t.GetString()!;
            case JsonValueKind.Array:
                var names = new List<string>();
                foreach (var item in t.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object
                        || !item.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                        || !item.TryGetProperty("template", out var body) || body.ValueKind != JsonValueKind.String)
                    {
                        throw new ModelFolderException(path, "chat_template", "must be a string or a list of {\"name\": ..., \"template\": ...} objects");
                    }

                    if (n.GetString() == "default")
                    {
                        return body.GetString()!;
                    }

                    names.Add(n.GetString()!);
                }

                throw new ModelFolderException(path, "chat_template", $"has no template named \"default\" (found: {string.Join(", ", names)})");
            default:
                throw new ModelFolderException(path, "chat_template", $"must be a string or a list of named templates, not {t.ValueKind}");
        }
    }

    // Special tokens are written either as a string or as an AddedToken object {"content": ...}.
    private static string? TokenText(string path, JsonElement e, string field)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (e.ValueKind == JsonValueKind.String)
        {
            return e.GetString();
        }

        if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
        {
            return c.GetString();
        }

        throw new ModelFolderException(path, field, "must be a string or an object with a string \"content\"");
    }

    private static Scope CreateGlobals(TimeProvider time)
    {
        var g = new Scope(null);
        g.Set("raise_exception", new TemplateCallable("raise_exception", a =>
            throw new TemplateRuntimeException(TemplateOps.ToStr(a.Get(0, "message", "")), raisedByTemplate: true)));
        g.Set("strftime_now", new TemplateCallable("strftime_now", a =>
            Strftime.Format(time.GetLocalNow(), TemplateOps.ToStr(a.Get(0, "format", "")))));
        g.Set("namespace", new TemplateCallable("namespace", a =>
        {
            var ns = new TemplateNamespace();
            foreach (var p in a.Positional)
            {
                if (p is TemplateDict d)
                {
                    foreach (var (k, v) in d)
                    {
                        ns.Attributes[TemplateOps.ToStr(k)] = v;
                    }
                }
            }

            foreach (var (k, v) in a.Named)
            {
                ns.Attributes[k] = v;
            }

            return ns;
        }));
        g.Set("range", new TemplateCallable("range", a =>
        {
            var n = a.Positional.Select(TemplateOps.AsLong).ToArray();
            var (start, stop, step) = n.Length switch
            {
                1 => (0L, n[0], 1L),
                2 => (n[0], n[1], 1L),
                3 => (n[0], n[1], n[2]),
                _ => throw new TemplateRuntimeException("range expects 1 to 3 integers"),
            };
            if (step == 0)
            {
                throw new TemplateRuntimeException("range() arg 3 must not be zero");
            }

            var result = new List<object?>();
            for (var i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                result.Add(i);
            }

            return result;
        }));
        g.Set("dict", new TemplateCallable("dict", a =>
        {
            var d = new TemplateDict();
            foreach (var (k, v) in a.Named)
            {
                d[k] = v;
            }

            return d;
        }));
        return g;
    }

    /// <summary>Turns caller-supplied .NET values (and JSON) into template values.</summary>
    internal static object? FromDotNet(object? value, string name) => value switch
    {
        null => null,
        string or bool or long or double => value,
        int i => (long)i,
        short s => (long)s,
        float f => (double)f,
        decimal m => (double)m,
        ChatTurn t => new TemplateDict { ["role"] = t.Role, ["content"] = t.Content },
        JsonElement e => FromJson(e),
        System.Text.Json.Nodes.JsonNode n => FromJson(JsonSerializer.SerializeToElement(n)),
        IDictionary d => ToDict(d.Keys.Cast<object>().Select(k => (k, d[k])), name),
        IEnumerable<KeyValuePair<string, object?>> kvs => ToDict(kvs.Select(kv => ((object)kv.Key, kv.Value)), name),
        IEnumerable e => e.Cast<object?>().Select(x => FromDotNet(x, name)).ToList(),
        _ => throw new ArgumentException($"Template variable '{name}' has a value of type {value.GetType().Name}, which templates cannot use.", nameof(value)),
    };

    private static TemplateDict ToDict(IEnumerable<(object Key, object? Value)> pairs, string name)
    {
        var d = new TemplateDict();
        foreach (var (k, v) in pairs)
        {
            d[FromDotNet(k, name) ?? ""] = FromDotNet(v, name);
        }

        return d;
    }

    internal static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => e.EnumerateObject().Aggregate(new TemplateDict(), (d, p) =>
        {
            d[p.Name] = FromJson(p.Value);
            return d;
        }),
        _ => null,
    };
}
