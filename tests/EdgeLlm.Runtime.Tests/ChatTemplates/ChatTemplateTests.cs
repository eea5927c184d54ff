using EdgeLlm.Runtime.ChatTemplates;
using EdgeLlm.Runtime.ModelFolders;

namespace EdgeLlm.Runtime.Tests.ChatTemplates;

public sealed class ChatTemplateTests
{
    private static readonly ChatTurn[] Conversation = [new("user", "Hi"), new("assistant", "Hello"), new("user", "Bye")];

    private static string Render(string template, IReadOnlyList<ChatTurn>? messages = null, IReadOnlyDictionary<string, object?>? vars = null) =>
        ChatTemplate.FromSource(template, "<s>", "</s>", "test.jinja", TemplateReference.FixedTime).Render(messages ?? Conversation, addGenerationPrompt: false, vars);

    private static void WriteConfig(string dir, string json) => File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), json);

    [Fact]
    public void Load_RealLlama2Folder_WithoutTemplate_NamesFileAndField()
    {
        var e = Assert.Throws<ModelFolderException>(() => ChatTemplate.Load(TestPaths.RealTokenizer("llama2")));
        Assert.Equal("chat_template", e.Field);
        Assert.EndsWith("tokenizer_config.json", e.File, StringComparison.Ordinal);
        Assert.Contains("chat_template.jinja", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ChatTemplateJinjaBesideConfig_Wins_AndTokensMayBeObjects()
    {
        using var dir = TestPaths.NewTempDir();
        WriteConfig(dir.Path, """{"chat_template": "from config", "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}""");
        File.WriteAllText(Path.Combine(dir.Path, "chat_template.jinja"), "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}\n");
        var t = ChatTemplate.Load(dir.Path);
        Assert.Equal("<s>Hi</s>", t.Render(Conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void Load_TemplateList_UsesTheOneNamedDefault()
    {
        using var dir = TestPaths.NewTempDir();
        WriteConfig(dir.Path, """{"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain {{ messages|length }}"}]}""");
        Assert.Equal("plain 3", ChatTemplate.Load(dir.Path).Render(Conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void Load_TemplateListWithoutDefault_ListsTheNames()
    {
        using var dir = TestPaths.NewTempDir();
        WriteConfig(dir.Path, """{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "rag", "template": "y"}]}""");
        var e = Assert.Throws<ModelFolderException>(() => ChatTemplate.Load(dir.Path));
        Assert.Equal("chat_template", e.Field);
        Assert.Contains("tool_use, rag", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EmptyFolder_NamesTheMissingFile()
    {
        using var dir = TestPaths.NewTempDir();
        var e = Assert.Throws<ModelFolderException>(() => ChatTemplate.Load(dir.Path));
        Assert.Equal(Path.Combine(dir.Path, "tokenizer_config.json"), e.File);
        Assert.Contains("is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BrokenJson_And_BadTokenField_AreModelFolderErrors()
    {
        using var dir = TestPaths.NewTempDir();
        WriteConfig(dir.Path, "{\"chat_template\": ");
        Assert.Contains("not valid JSON", Assert.Throws<ModelFolderException>(() => ChatTemplate.Load(dir.Path)).Message, StringComparison.Ordinal);
        WriteConfig(dir.Path, """{"chat_template": "x", "eos_token": 5}""");
        Assert.Equal("eos_token", Assert.Throws<ModelFolderException>(() => ChatTemplate.Load(dir.Path)).Field);
    }

    [Fact]
    public void Load_SyntaxErrorInConfigTemplate_NamesFileFieldAndLine()
    {
        using var dir = TestPaths.NewTempDir();
        WriteConfig(dir.Path, """{"chat_template": "ok\n{% for m in messages %}\n{{ m.content + }}\n{% endfor %}"}""");
        var e = Assert.Throws<ChatTemplateSyntaxException>(() => ChatTemplate.Load(dir.Path));
        Assert.Equal(3, e.Line);
        Assert.StartsWith(Path.Combine(dir.Path, "tokenizer_config.json") + " (chat_template): line 3: template syntax error:", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{% for m in messages %}\nno end", 2, "'endfor' or 'else'")]
    [InlineData("a\n\n{% endif %}", 3, "unknown tag 'endif'")]
    [InlineData("{{ 'unterminated }}", 1, "unexpected char")]
    [InlineData("{# never closed", 1, "Missing end of comment tag")]
    [InlineData("x\n{{ messages | nosuch }}", 2, "No filter named 'nosuch'")]
    [InlineData("{% if x is frobbed %}{% endif %}", 1, "No test named 'frobbed'")]
    [InlineData("{% include 'other.jinja' %}", 1, "'include' tag is not supported")]
    [InlineData("{{ (1 }}", 1, "unexpected '}'")]
    public void FromSource_SyntaxErrors_NameTheLine(string template, int line, string problem)
    {
        var e = Assert.Throws<ChatTemplateSyntaxException>(() => ChatTemplate.FromSource(template, null, null, "t.jinja"));
        Assert.Equal(line, e.Line);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"t.jinja: line {line}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_RaiseException_SurfacesTheTemplatesMessage_Llama2()
    {
        var path = Path.Combine(TestPaths.RepoRoot, "tests", "reference", "templates", "llama2.jinja");
        var t = ChatTemplate.FromSource(File.ReadAllText(path), "<s>", "</s>", path);
        var e = Assert.Throws<ChatTemplateException>(() => t.Render([new("user", "a"), new("user", "b")], addGenerationPrompt: true));
        Assert.Equal("the template refused the conversation: Conversation roles must alternate user/assistant/user/assistant/...", e.Problem);
        Assert.Equal(11, e.Line);
        Assert.StartsWith(path + ": line 11: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_RaiseException_FromRealGemma3Config()
    {
        var t = ChatTemplate.Load(TestPaths.RealTokenizer("gemma3"));
        var e = Assert.Throws<ChatTemplateException>(() => t.Render([new("assistant", "first")], addGenerationPrompt: false));
        Assert.Contains("Conversation roles must alternate", e.Message, StringComparison.Ordinal);
        Assert.Contains("tokenizer_config.json (chat_template)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_RuntimeError_NamesLineAndWhatWasUndefined()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("a\n{% for m in messages %}\n{{ m.meta.author }}\n{% endfor %}"));
        Assert.Equal(3, e.Line);
        Assert.Contains("'dict object' has no attribute 'meta'", e.Problem, StringComparison.Ordinal);
        Assert.Contains("can only concatenate str", Assert.Throws<ChatTemplateException>(() => Render("{{ 'a' + 1 }}")).Problem, StringComparison.Ordinal);
        Assert.Contains("integer overflow", Assert.Throws<ChatTemplateException>(() => Render("{{ 9223372036854775807 + 1 }}")).Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Undefined_PrintsEmpty_IsFalsy_AndMissingKeysAreUndefined()
    {
        Assert.Equal("[][]|no|yes|d", Render("[{{ nothing }}][{{ messages[0]['x'] }}]|{{ 'yes' if messages[0].x else 'no' }}|{{ 'yes' if messages[9] is undefined }}|{{ messages[0].x | default('d') }}"));
        Assert.Equal("True|False", Render("{{ tools is none }}|{{ tools is undefined }}"));
    }

    [Fact]
    public void Render_ExtraVariables_ReachTheTemplate_Qwen3Thinking()
    {
        var t = ChatTemplate.Load(TestPaths.RealTokenizer("qwen3"));
        var off = t.Render([new("user", "Hi")], addGenerationPrompt: true, new Dictionary<string, object?> { ["enable_thinking"] = false });
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", off);
        var on = t.Render([new("user", "Hi")], addGenerationPrompt: true);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", on);
    }

    [Fact]
    public void Render_ToolsAsDotNetValues_AreSerializedLikeJsonDumps()
    {
        var t = ChatTemplate.Load(TestPaths.RealTokenizer("qwen3"));
        var tool = new Dictionary<string, object?>
        {
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?> { ["name"] = "pressure", ["limits"] = new object[] { 1, 2.5, "bär", true } },
        };
        var text = t.Render([new("user", "Hi")], addGenerationPrompt: false, new Dictionary<string, object?> { ["tools"] = new[] { tool } });
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"pressure\", \"limits\": [1, 2.5, \"bär\", true]}}\n</tools>", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_JsonExtraVariables_KeepTypesAndOrder()
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse("""{"z": 1, "a": [1.5, null, "é"]}""");
        using var doc = System.Text.Json.JsonDocument.Parse("""{"n": 2, "b": false}""");
        Assert.Equal("""{"z": 1, "a": [1.5, null, "é"]}|{'n': 2, 'b': False}""",
            Render("{{ node | tojson }}|{{ element }}", vars: new Dictionary<string, object?> { ["node"] = node, ["element"] = doc.RootElement }));
    }

    [Fact]
    public void Render_AppendAndGenerationBlocks_Work()
    {
        Assert.Equal("[1, 'x']", Render("{% set l = [] %}{% set _ = l.append(1) %}{% set _ = l.append('x') %}{{ l }}"));
        Assert.Equal("Hello", Render("{% generation %}{{ messages[1].content }}{% endgeneration %}"));
    }

    [Fact]
    public void Load_PutsEveryTokenOfTheSpecialTokensMapInScope()
    {
        using var dir = TestPaths.NewTempDir();
        WriteConfig(dir.Path, """{"chat_template": "{{ pad_token }}|{{ unk_token }}|{{ bos_token is defined }}|{{ additional_special_tokens | join(',') }}", "pad_token": "<pad>", "unk_token": {"content": "<unk>"}, "bos_token": null, "additional_special_tokens": ["<a>", {"content": "<b>"}]}""");
        Assert.Equal("<pad>|<unk>|False|<a>,<b>", ChatTemplate.Load(dir.Path).Render([], false));
    }

    [Fact]
    public void Render_EndlessMacroRecursion_FailsTheRender_NotTheProcess()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
        Assert.Contains("recursed too deeply", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_StrftimeNow_ReadsTheGivenClock()
    {
        Assert.Equal("07 Mar 2026 / Saturday", Render("{{ strftime_now('%d %b %Y / %A') }}"));
    }

    [Fact]
    public void Render_IsRepeatable_NoStateLeaksBetweenRenders()
    {
        var t = ChatTemplate.FromSource("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}", null, null, "t");
        Assert.Equal("3", t.Render(Conversation, false));
        Assert.Equal("1", t.Render([new("user", "x")], false));
        Assert.Equal("3", t.Render(Conversation, false));
    }

    [Fact]
    public void Render_LoopControls_ForElse_AndFilteredLoops()
    {
        Assert.Equal("Hi,Bye|none", Render(
            "{% for m in messages if m.role == 'user' %}{{ m.content }}{{ ',' if not loop.last }}{% endfor %}|" +
            "{% for m in messages if m.role == 'tool' %}x{% else %}none{% endfor %}"));
        Assert.Equal("Hi", Render("{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.content }}{% endfor %}"));
    }

    [Fact]
    public void BuiltInTemplates_RenderTheirFormats()
    {
        ChatTurn[] chat = [new("system", "S"), new("user", "U")];
        Assert.Equal("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.FromSource(BuiltInTemplates.ChatMl, null, "<|im_end|>", "ChatMl").Render(chat, true));
        Assert.Equal("<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n",
            ChatTemplate.FromSource(BuiltInTemplates.Phi3, "<s>", "<|endoftext|>", "Phi3").Render(chat, true));
        Assert.StartsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 07 Mar 2026\n\nS<|eot_id|>",
            ChatTemplate.FromSource(BuiltInTemplates.Llama3, "<|begin_of_text|>", "<|eot_id|>", "Llama3", TemplateReference.FixedTime).Render(chat, true), StringComparison.Ordinal);
    }
}
