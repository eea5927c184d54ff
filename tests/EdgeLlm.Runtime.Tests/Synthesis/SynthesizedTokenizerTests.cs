using System.Diagnostics;
using System.Text.Json;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.Runtime.Tests.Synthesis;

/// <summary>
/// Loads the synthesized tokenizer files with Hugging Face's own JavaScript tokenizer and Jinja
/// implementations (installed by the test set-up under tests/reference/node_modules), so the files
/// are checked by a reader this project did not write.
/// </summary>
public sealed class SynthesizedTokenizerTests
{
    private const string Text = "Hello there, the quick brown fox!\n  Numbers 12345, tabs\tand émojis 🙂 中文";

    // Prints one JSON line: every id decodes to a string, the text round-trips, and the chat template renders.
    private const string Script = """
        import { Tokenizer } from "@huggingface/tokenizers";
        import { Template } from "@huggingface/jinja";
        import fs from "node:fs";
        const [dir, text] = process.argv.slice(1);
        const tj = JSON.parse(fs.readFileSync(dir + "/tokenizer.json", "utf8"));
        const tc = JSON.parse(fs.readFileSync(dir + "/tokenizer_config.json", "utf8"));
        const vocabSize = JSON.parse(fs.readFileSync(dir + "/genai_config.json", "utf8")).model.vocab_size;
        const tok = new Tokenizer(tj, tc);
        let undecodable = 0;
        for (let id = 0; id < vocabSize; id++) {
          if (typeof tok.decode([id]) !== "string") undecodable++;
        }
        const ids = tok.encode(text).ids;
        const rendered = new Template(tc.chat_template).render({
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }, { role: "user", content: "Again" }],
          add_generation_prompt: true, bos_token: tc.bos_token, eos_token: tc.eos_token, date_string: "26 Jul 2024" });
        console.log(JSON.stringify({
          undecodable, ids,
          decoded: tok.decode(ids, { skip_special_tokens: true }),
          rendered,
          renderedIds: tok.encode(rendered, { add_special_tokens: false }).ids }));
        """;

    [Theory]
    [InlineData("qwen2", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("llama", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAgain<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    [InlineData("phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nAgain<|end|>\n<|assistant|>\n")]
    public void Hugging_Face_tokenizers_js_loads_the_tokenizer_decodes_every_id_and_renders_the_template(string family, string expectedPrompt)
    {
        using var dir = TestPaths.NewTempDir();
        ModelSynthesizer.Synthesize(new SynthesisOptions(family, "tiny", "fp32", dir.Path, Seed: 1));
        var config = GenAiConfig.Load(dir.Path);
        var specials = TokenizerSynthesizer.SpecialTokenIds(ModelFamily.All.Single(f => f.Name == family), config.VocabSize);

        using var result = RunNode(dir.Path);
        var root = result.RootElement;
        Assert.Equal(0, root.GetProperty("undecodable").GetInt32());
        Assert.Equal(Text, root.GetProperty("decoded").GetString());
        Assert.Equal(expectedPrompt, root.GetProperty("rendered").GetString());

        var ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.All(ids, id => Assert.InRange(id, 0, config.VocabSize - 1));
        Assert.True(ids.Count < Text.Length, "merges should make fewer tokens than characters");
        if (config.BosTokenId is { } bos && family == "llama")
        {
            Assert.Equal(bos, ids[0]);
        }

        // Special tokens in the rendered prompt encode as their single ids.
        var renderedIds = root.GetProperty("renderedIds").EnumerateArray().Select(e => e.GetInt32()).ToList();
        foreach (var (token, id) in specials)
        {
            if (expectedPrompt.Contains(token, StringComparison.Ordinal))
            {
                Assert.Contains(id, renderedIds);
            }
        }
    }

    private static JsonDocument RunNode(string modelDir)
    {
        var reference = Path.Combine(TestPaths.RepoRoot, "tests", "reference");
        if (!Directory.Exists(Path.Combine(reference, "node_modules", "@huggingface", "tokenizers")))
        {
            throw new InvalidOperationException($"'{reference}/node_modules/@huggingface/tokenizers' is missing: run `make test-deps` (scripts/test-deps.sh) first.");
        }

        // Bare module names in --eval code resolve from the working directory, i.e. tests/reference/node_modules.
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = reference,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "--input-type=module", "--eval", Script, modelDir, Text })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"node failed ({process.ExitCode}): {stderr.Result}");
        return JsonDocument.Parse(stdout);
    }
}
