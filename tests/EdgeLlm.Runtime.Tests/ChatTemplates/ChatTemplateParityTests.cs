using System.Text.Json;
using EdgeLlm.Runtime.ChatTemplates;

namespace EdgeLlm.Runtime.Tests.ChatTemplates;

/// <summary>
/// Byte equality with Jinja (python3-jinja2 under transformers' settings) for every reference template on
/// multi-turn conversations, with and without the generation prompt, including the conversations a format
/// refuses (the template's raise_exception message must come through).
/// </summary>
public sealed class ChatTemplateParityTests
{
    public static TheoryData<string> Templates() =>
    [
        "qwen3", "llama3", "gemma3", "llama2", "qwen2.5", "smollm2", "phi3", "mistral", "features",
        "builtin-ChatMl", "builtin-Llama3", "builtin-Phi3",
    ];

    [Theory]
    [MemberData(nameof(Templates))]
    public void Render_MatchesJinjaByteForByte(string name)
    {
        using var doc = TemplateReference.Open(name);
        var root = doc.RootElement;
        var template = LoadAsReferenceDid(root);
        var failures = new List<string>();
        var cases = root.GetProperty("cases").EnumerateArray().ToList();
        Assert.True(cases.Count >= 20, $"{name}: only {cases.Count} cases");
        for (var i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            var messages = TemplateReference.Messages(c.GetProperty("messages"));
            var add = c.GetProperty("add_generation_prompt").GetBoolean();
            if (c.TryGetProperty("expected", out var expected))
            {
                string actual;
                try
                {
                    actual = template.Render(messages, add);
                }
                catch (ChatTemplateException e)
                {
                    failures.Add($"case {i} (add_generation_prompt={add}) threw: {e.Message}");
                    continue;
                }

                if (actual != expected.GetString())
                {
                    failures.Add($"case {i} (add_generation_prompt={add}): {TemplateReference.Difference(expected.GetString()!, actual)}");
                }
            }
            else
            {
                var error = c.GetProperty("error").GetString()!;
                var e = Record.Exception(() => template.Render(messages, add));
                if (e is not ChatTemplateException ce || !ce.Problem.Contains(error, StringComparison.Ordinal))
                {
                    failures.Add($"case {i}: expected the template's error {TemplateReference.Show(error)}, got {e?.GetType().Name}: {e?.Message}");
                }
            }
        }

        Assert.True(failures.Count == 0, $"{name}: {failures.Count} of {cases.Count} cases differ from Jinja:\n" + string.Join("\n", failures));
    }

    private static ChatTemplate LoadAsReferenceDid(JsonElement root)
    {
        var source = root.GetProperty("source");
        var bos = root.GetProperty("bos_token").GetString();
        var eos = root.GetProperty("eos_token").GetString();
        if (source.TryGetProperty("folder", out var folder))
        {
            // The real tokenizer folders go through Load, which must find the same template and tokens.
            var name = root.GetProperty("name").GetString()!;
            var dir = TestPaths.RealTokenizer(name);
            Assert.Equal(Path.GetFullPath(Path.Combine(TestPaths.RepoRoot, folder.GetString()!)), Path.GetFullPath(dir));
            return ChatTemplate.Load(dir, TemplateReference.FixedTime);
        }

        if (source.TryGetProperty("file", out var file))
        {
            var path = Path.Combine(TestPaths.RepoRoot, file.GetString()!);
            return ChatTemplate.FromSource(File.ReadAllText(path), bos, eos, path, TemplateReference.FixedTime);
        }

        var builtin = source.GetProperty("builtin").GetString() switch
        {
            "ChatMl" => BuiltInTemplates.ChatMl,
            "Llama3" => BuiltInTemplates.Llama3,
            "Phi3" => BuiltInTemplates.Phi3,
            var other => throw new InvalidOperationException($"unknown built-in template {other}"),
        };
        return ChatTemplate.FromSource(builtin, bos, eos, "BuiltInTemplates", TemplateReference.FixedTime);
    }

    [Fact]
    public void Snippets_RenderLikeJinja_AndFailWhereJinjaFails()
    {
        using var doc = TemplateReference.Open("snippets");
        var failures = new List<string>();
        var snippets = doc.RootElement.GetProperty("snippets").EnumerateArray().ToList();
        foreach (var s in snippets)
        {
            var source = s.GetProperty("template").GetString()!;
            var vars = s.GetProperty("vars").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
            string? actual = null;
            Exception? error = null;
            try
            {
                var t = ChatTemplate.FromSource(source, null, null, "snippet", TemplateReference.FixedTime);
                actual = t.Render([], addGenerationPrompt: false, vars);
            }
            catch (ChatTemplateException e)
            {
                error = e;
            }

            if (s.TryGetProperty("expected", out var expected))
            {
                if (actual != expected.GetString())
                {
                    failures.Add($"{TemplateReference.Show(source)}\n  " + (error is null ? TemplateReference.Difference(expected.GetString()!, actual!) : "error " + error.Message));
                }
            }
            else if (error is null)
            {
                failures.Add($"{TemplateReference.Show(source)}\n  Jinja fails with {s.GetProperty("error").GetString()}, but it rendered {TemplateReference.Show(actual)}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {snippets.Count} snippets differ from Jinja:\n" + string.Join("\n", failures));
    }
}
