using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Synthesis;
using EdgeLlm.Runtime.Tests.Generation;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeLlm.Runtime.Tests.Adapters;

public sealed class AdapterSetTests(LoraModelFixture models) : IClassFixture<LoraModelFixture>
{
    private static readonly int[] Prompt = [3, 141, 59, 265, 358, 979, 323, 846];
    private static readonly int[] Continuation = [17, 400, 2, 999, 64, 512, 8, 77, 300, 5];

    /// <summary>Logits of the prompt (one run) and then of each continuation token (one run each) on a fresh sequence.</summary>
    private static float[][] Steps(OnnxModel model, string? adapter = null)
    {
        using var sequence = model.CreateSequence(32, model.Adapters.Resolve(adapter));
        return Steps(sequence);
    }

    private static float[][] Steps(GenerationSequence sequence) =>
        [sequence.Append(Prompt).ToArray(), .. Continuation.Select(t => sequence.Append([t]).ToArray())];

    private static float MaxDifference(float[][] a, float[][] b) =>
        a.Zip(b).Max(step => step.First.Zip(step.Second).Max(x => Math.Abs(x.First - x.Second)));

    [Fact]
    public void NoAdapter_LoraModelComputesExactlyTheBaseModel()
    {
        var lora = Steps(models.LoraWithAdapters());
        var plain = Steps(models.Model("base"));
        Assert.Equal(plain, lora);
    }

    [Fact]
    public void NoAdapter_Int4LoraModelComputesTheBaseModel()
    {
        // The zero branch is exact, but the LoRA Add between MatMulNBits and the bias Add changes which kernels
        // ONNX Runtime fuses, so the int4 logits differ in the last float bits.
        var lora = Steps(models.LoraWithAdapters("int4"));
        var plain = Steps(models.Model("base", "int4"));
        Assert.True(MaxDifference(lora, plain) < 1e-5f, $"max difference {MaxDifference(lora, plain)}");
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("int4")]
    public void Adapter_ChangesTheLogits_ToThoseOfTheModelWithItBakedIn(string quant)
    {
        var adapted = Steps(models.LoraWithAdapters(quant), "a");
        var baked = Steps(models.Model("baked-a", quant));
        var plain = Steps(models.Model("base", quant));

        Assert.True(MaxDifference(adapted, plain) > 0.05f, "the adapter should change the logits clearly");
        Assert.True(MaxDifference(adapted, baked) < 1e-4f, $"max difference to the baked reference: {MaxDifference(adapted, baked)}");
    }

    [Fact]
    public void InterleavedSequences_WithDifferentAdapters_EachGetTheirOwn()
    {
        var model = models.LoraWithAdapters();
        using var a = model.CreateSequence(32, model.Adapters.Resolve("a"));
        using var b = model.CreateSequence(32, model.Adapters.Resolve("b"));
        using var none = model.CreateSequence(32);
        var results = new[] { new List<float[]>(), new List<float[]>(), new List<float[]>() };
        GenerationSequence[] sequences = [a, b, none];
        for (var step = 0; step <= Continuation.Length; step++)
        {
            for (var s = 0; s < sequences.Length; s++)
            {
                var logits = step == 0 ? sequences[s].Append(Prompt) : sequences[s].Append([Continuation[step - 1]]);
                results[s].Add(logits.ToArray());
            }
        }

        Assert.True(MaxDifference([.. results[0]], Steps(models.Model("baked-a"))) < 1e-4f);
        Assert.True(MaxDifference([.. results[1]], Steps(models.Model("baked-b"))) < 1e-4f);
        Assert.Equal(Steps(models.Model("base")), [.. results[2]]);
    }

    [Fact]
    public async Task ConcurrentGenerations_WithDifferentAdapters_MatchTheirReferences()
    {
        var model = models.LoraWithAdapters();
        var options = new GenerationOptions { MaxNewTokens = 12, DoSample = false, StopTokenIds = [] };
        var expectedA = await Ids(new Generator(models.Model("baked-a")).GenerateAsync(Prompt, options));
        var expectedB = await Ids(new Generator(models.Model("baked-b")).GenerateAsync(Prompt, options));
        var expectedBase = await Ids(new Generator(models.Model("base")).GenerateAsync(Prompt, options));
        Assert.NotEqual(expectedA, expectedBase);
        Assert.NotEqual(expectedA, expectedB);

        var generator = new Generator(model);
        for (var round = 0; round < 3; round++)
        {
            var runs = await Task.WhenAll(
                Task.Run(() => Ids(generator.GenerateAsync(Prompt, options with { Adapter = "a" }))),
                Task.Run(() => Ids(generator.GenerateAsync(Prompt, options with { Adapter = "b" }))),
                Task.Run(() => Ids(generator.GenerateAsync(Prompt, options))));
            Assert.Equal(expectedA, runs[0]);
            Assert.Equal(expectedB, runs[1]);
            Assert.Equal(expectedBase, runs[2]);
        }
    }

    [Fact]
    public void OnnxRuntimesOwnAdapterApi_AgreesWithTheBoundAdapter()
    {
        var model = models.LoraWithAdapters();
        using var ortAdapter = OrtLoraAdapter.Create(models.AdapterA, null);
        var viaRunOptions = PromptLogits(model.Session, ortAdapter);

        using var sequence = model.CreateSequence(16, model.Adapters.Resolve("a"));
        var viaBinding = sequence.Append(Prompt).ToArray();
        Assert.True(viaRunOptions.Zip(viaBinding).Max(x => Math.Abs(x.First - x.Second)) < 1e-5f);
        Assert.True(viaRunOptions.Zip(PromptLogits(model.Session, null)).Max(x => Math.Abs(x.First - x.Second)) > 0.05f);
    }

    [Fact]
    public void RunWithBinding_IgnoresRunOptionsAdapters_WhichIsWhyAdaptersAreBound()
    {
        // If a later ONNX Runtime applies run-option adapters to bound runs too, AdapterSet could use that instead.
        var model = models.LoraWithAdapters();
        using var ortAdapter = OrtLoraAdapter.Create(models.AdapterA, null);
        using var runOptions = new RunOptions();
        runOptions.AddActiveLoraAdapter(ortAdapter);
        using var inputs = new PromptInputs();
        using var binding = model.Session.CreateIoBinding();
        foreach (var (name, value) in inputs.Values)
        {
            binding.BindInput(name, value);
        }

        foreach (var output in model.Session.OutputMetadata.Keys)
        {
            binding.BindOutputToDevice(output, OrtMemoryInfo.DefaultInstance);
        }

        model.Session.RunWithBinding(runOptions, binding);
        using var outputs = binding.GetOutputValues();
        var logits = model.Session.OutputMetadata.Keys.ToList().IndexOf("logits");
        Assert.Equal(PromptLogits(model.Session, null), LastRow(outputs[logits]));
    }

    [Fact]
    public void UnknownAdapter_IsRefusedWhenGenerationStarts_ListingTheLoadedOnes()
    {
        var generator = new Generator(models.LoraWithAdapters());
        var ex = Assert.Throws<ArgumentException>(() => generator.GenerateAsync(Prompt, new GenerationOptions { Adapter = "c" }));
        Assert.Contains("Unknown adapter 'c'", ex.Message);
        Assert.Contains("loaded: a, b", ex.Message);
    }

    [Fact]
    public void UnknownAdapter_OnAModelWithoutAdapters_SaysWhereTheyComeFrom()
    {
        var ex = Assert.Throws<ArgumentException>(() => models.Model("base").Adapters.Resolve("a"));
        Assert.Contains("none are loaded", ex.Message);
        Assert.Contains("adapters/", ex.Message);
    }

    [Fact]
    public void AdaptersFolder_IsLoadedWithTheModel_NamedByFile()
    {
        var folder = models.LinkedCopy("lora");
        var adapters = Directory.CreateDirectory(Path.Combine(folder, AdapterSet.FolderName)).FullName;
        File.Copy(models.AdapterA, Path.Combine(adapters, "support-en.onnx_adapter"));
        File.Copy(models.AdapterB, Path.Combine(adapters, "inspection.onnx_adapter"));
        File.WriteAllText(Path.Combine(adapters, "README.txt"), "not an adapter");

        using var model = OnnxModel.Load(folder, TinyModelFixture.OneThread);
        Assert.Equal(["inspection", "support-en"], model.Adapters.Names);
        var loaded = model.Adapters.Resolve("support-en")!;
        Assert.Equal(Path.Combine(adapters, "support-en.onnx_adapter"), loaded.Path);
        Assert.Equal(2 * 2 * 2, loaded.Parameters);
        Assert.True(MaxDifference(Steps(model, "support-en"), Steps(models.Model("baked-a"))) < 1e-4f);
    }

    [Fact]
    public void CorruptAdapterInTheFolder_FailsTheModelLoad_NamingTheFile()
    {
        var folder = models.LinkedCopy("lora");
        var adapters = Directory.CreateDirectory(Path.Combine(folder, AdapterSet.FolderName)).FullName;
        var broken = Path.Combine(adapters, "broken.onnx_adapter");
        var bytes = File.ReadAllBytes(models.AdapterA);
        File.WriteAllBytes(broken, bytes.AsSpan(0, bytes.Length / 2).ToArray());

        var ex = Assert.Throws<AdapterFileException>(() => OnnxModel.Load(folder, TinyModelFixture.OneThread));
        Assert.Equal(broken, ex.File);
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void AdapterOfAnotherRank_Loads_AndChangesTheOutput()
    {
        var path = Path.Combine(models.Dir, "rank8" + AdapterFile.Extension);
        var written = AdapterSynthesizer.Synthesize(models.Folder("lora"), path, seed: 5, rank: 8);
        Assert.NotEqual(8, LoraModelFixture.Rank);
        Assert.Equal(8, written[0].Dims[1]);
        Assert.Equal(8, written[1].Dims[0]);

        using var model = OnnxModel.Load(models.Folder("lora"), TinyModelFixture.OneThread);
        model.Adapters.Load("rank8", path);
        Assert.True(MaxDifference(Steps(model, "rank8"), Steps(models.Model("base"))) > 0.05f);
    }

    [Fact]
    public void DuplicateName_IsRefused()
    {
        using var model = OnnxModel.Load(models.Folder("lora"), TinyModelFixture.OneThread);
        model.Adapters.Load("a", models.AdapterA);
        var ex = Assert.Throws<ArgumentException>(() => model.Adapters.Load("a", models.AdapterB));
        Assert.Contains("already loaded", ex.Message);
        Assert.Equal(["a"], model.Adapters.Names);
    }

    [Fact]
    public void AdapterOfAnotherModel_CannotBeActivated()
    {
        using var other = OnnxModel.Load(models.Folder("lora"), TinyModelFixture.OneThread);
        var foreign = other.Adapters.Load("a", models.AdapterA);
        var ex = Assert.Throws<ArgumentException>(() => models.LoraWithAdapters().CreateSequence(8, foreign));
        Assert.Contains("another model", ex.Message);
    }

    [Fact]
    public void ModelWithoutLoraInputs_RefusesAdapters()
    {
        using var model = OnnxModel.Load(models.Folder("base"), TinyModelFixture.OneThread);
        Assert.False(model.Adapters.ModelAcceptsAdapters);
        var ex = Assert.Throws<AdapterFileException>(() => model.Adapters.Load("a", models.AdapterA));
        Assert.Equal(models.AdapterA, ex.File);
        Assert.Contains("without LoRA branches", ex.Message);
    }

    public static TheoryData<string, string> Mismatches => new()
    {
        { "wrong-in", "parameter 'model.layers.0.attn.qkv_proj.lora_A.MatMul.weight' is Float [64, 4], but" },
        { "wrong-out", "parameter 'model.layers.1.attn.o_proj.lora_B.MatMul.weight' is Float [4, 100], but" },
        { "wrong-type", "parameter 'model.layers.0.attn.qkv_proj.lora_A.MatMul.weight' is Float16 [128, 4], but" },
        { "unknown", "parameter 'model.layers.0.mlp.up_proj.lora_A.MatMul.weight' is not an input of" },
        { "half-pair", "has no 'model.layers.0.attn.qkv_proj.lora_B.MatMul.weight'" },
        { "rank-mismatch", "has rank 4 but 'model.layers.0.attn.qkv_proj.lora_B.MatMul.weight' is [3, 256]" },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void AdapterThatDoesNotFitTheModel_IsRefused_NamingFileAndParameter(string kind, string expected)
    {
        const string qkvA = "model.layers.0.attn.qkv_proj.lora_A.MatMul.weight";
        const string qkvB = "model.layers.0.attn.qkv_proj.lora_B.MatMul.weight";
        AdapterParameter Zeros(string name, long rows, long columns) => AdapterParameter.Floats(name, [rows, columns], new float[rows * columns]);
        AdapterParameter[] parameters = kind switch
        {
            "wrong-in" => [Zeros(qkvA, 64, 4), Zeros(qkvB, 4, 256)],
            "wrong-out" => [Zeros("model.layers.1.attn.o_proj.lora_A.MatMul.weight", 128, 4), Zeros("model.layers.1.attn.o_proj.lora_B.MatMul.weight", 4, 100)],
            "wrong-type" => [new AdapterParameter(qkvA, [128, 4], AdapterDataType.Float16, new byte[128 * 4 * 2]), Zeros(qkvB, 4, 256)],
            "unknown" => [Zeros(qkvA, 128, 4), Zeros(qkvB, 4, 256), Zeros("model.layers.0.mlp.up_proj.lora_A.MatMul.weight", 128, 4)],
            "half-pair" => [Zeros(qkvA, 128, 4)],
            "rank-mismatch" => [Zeros(qkvA, 128, 4), Zeros(qkvB, 3, 256)],
            _ => throw new ArgumentException(kind, nameof(kind)),
        };
        var path = models.Write(kind, parameters);

        using var model = OnnxModel.Load(models.Folder("lora"), TinyModelFixture.OneThread);
        var ex = Assert.Throws<AdapterFileException>(() => model.Adapters.Load(kind, path));
        Assert.Equal(path, ex.File);
        Assert.Contains(expected, ex.Message);
        Assert.Empty(model.Adapters.Names);
    }

    [Fact]
    public void PartialAdapter_ReplacesOnlyItsOwnBranches()
    {
        var full = AdapterFile.Read(models.AdapterA).Parameters;
        var layer0 = full.Where(p => p.Name.StartsWith("model.layers.0.", StringComparison.Ordinal)).ToArray();
        var path = models.Write("layer0", layer0);

        using var model = OnnxModel.Load(models.Folder("lora"), TinyModelFixture.OneThread);
        model.Adapters.Load("layer0", path);
        var partial = Steps(model, "layer0");
        Assert.True(MaxDifference(partial, Steps(models.Model("base"))) > 1e-3f);
        Assert.True(MaxDifference(partial, Steps(models.Model("baked-a"))) > 1e-3f);
    }

    /// <summary>Logits of the prompt's last token from a plain <c>Run</c>, with ONNX Runtime's adapter API when one is given.</summary>
    private static float[] PromptLogits(InferenceSession session, OrtLoraAdapter? adapter)
    {
        using var runOptions = new RunOptions();
        if (adapter is not null)
        {
            runOptions.AddActiveLoraAdapter(adapter);
        }

        using var inputs = new PromptInputs();
        using var outputs = session.Run(runOptions, inputs.Values.Select(v => v.Name).ToArray(), inputs.Values.Select(v => v.Value).ToArray(), ["logits"]);
        return LastRow(outputs[0]);
    }

    private static float[] LastRow(OrtValue logits) => logits.GetTensorDataAsSpan<float>()[^1000..].ToArray();

    /// <summary>The prompt, its attention mask and zero-length past key/values of the tiny model's two layers.</summary>
    private sealed class PromptInputs : IDisposable
    {
        public PromptInputs()
        {
            long[] ids = [.. Prompt.Select(t => (long)t)];
            Values.Add(("input_ids", OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length])));
            Values.Add(("attention_mask", OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), [1, ids.Length])));
            for (var l = 0; l < 2; l++)
            {
                foreach (var kind in new[] { "key", "value" })
                {
                    Values.Add(($"past_key_values.{l}.{kind}",
                        OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, 2, 0, 32])));
                }
            }
        }

        public List<(string Name, OrtValue Value)> Values { get; } = [];

        public void Dispose() => Values.ForEach(v => v.Value.Dispose());
    }

    private static async Task<List<int>> Ids(IAsyncEnumerable<GeneratedToken> stream)
    {
        var ids = new List<int>();
        await foreach (var token in stream)
        {
            ids.Add(token.Id);
        }

        return ids;
    }
}
