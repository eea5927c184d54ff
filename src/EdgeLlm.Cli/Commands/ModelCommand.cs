using System.CommandLine;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Synthesis;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm model synth|info|synth-adapter`.</summary>
internal static class ModelCommand
{
    public static Command Build()
    {
        var model = new Command("model", "Model folders: synthesize random-weight models, inspect folders.");
        model.Add(BuildSynth());
        model.Add(BuildInfo());
        model.Add(BuildSynthAdapter());
        return model;
    }

    private static Command BuildSynth()
    {
        var family = new Option<string>("--family") { Description = $"Model family: {string.Join(", ", ModelSynthesizer.Families)}.", Required = true };
        var shape = new Option<string>("--shape") { Description = $"Shape: {string.Join(", ", ModelSynthesizer.Shapes)}.", DefaultValueFactory = _ => "tiny" };
        var quant = new Option<string>("--quant") { Description = "Weights: fp32 or int4 (MatMulNBits, block 32).", DefaultValueFactory = _ => "int4" };
        var output = new Option<string>("--out") { Description = "Folder to write (created; existing model files are replaced).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed; the same seed writes the same files.", DefaultValueFactory = _ => 1 };
        var loraRank = new Option<int>("--lora-rank") { Description = "Add LoRA inputs (the builder's names) to the attention projections; adapters of any rank fit. 0 = none.", DefaultValueFactory = _ => 0 };
        var json = CommonOptions.Json();
        var cmd = new Command("synth", "Write a random-weight decoder in onnxruntime-genai's folder format (for tests and benchmarks; its answers are noise).")
        {
            family, shape, quant, output, seed, loraRank, json,
        };
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), () =>
        {
            var asJson = parse.GetValue(json);
            var progress = asJson ? null : new Progress<string>(m => Console.Error.WriteLine(m));
            var result = ModelSynthesizer.Synthesize(
                new SynthesisOptions(parse.GetValue(family)!, parse.GetValue(shape)!, parse.GetValue(quant)!, parse.GetValue(output)!, parse.GetValue(seed), parse.GetValue(loraRank)),
                progress,
                ct);
            if (asJson)
            {
                CliOutput.WriteJson(result);
            }
            else
            {
                Console.WriteLine($"wrote {parse.GetValue(output)}: {result.Parameters:N0} parameters, {result.WeightBytes / (1024.0 * 1024.0):F1} MiB of weights");
            }

            return Task.FromResult(0);
        }));
        return cmd;
    }

    private static Command BuildSynthAdapter()
    {
        var modelDir = CommonOptions.Model();
        var output = new Option<string>("--out") { Description = "The .onnx_adapter file to write (default: the model's adapters/NAME.onnx_adapter)." };
        var name = new Option<string>("--name") { Description = "Adapter name when --out is not given.", DefaultValueFactory = _ => "synth" };
        var rank = new Option<int?>("--rank") { Description = "LoRA rank (default: the model's synthesized rank)." };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
        var json = CommonOptions.Json();
        var cmd = new Command("synth-adapter", "Write a random LoRA adapter for a model synthesized with --lora-rank.") { modelDir, output, name, rank, seed, json };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            var dir = parse.GetValue(modelDir)!;
            var path = parse.GetValue(output) ?? Path.Combine(dir, "adapters", parse.GetValue(name) + ".onnx_adapter");
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var parameters = AdapterSynthesizer.Synthesize(dir, path, parse.GetValue(seed), parse.GetValue(rank));
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new { path, parameters = parameters.Count });
            }
            else
            {
                Console.WriteLine($"wrote {path}: {parameters.Count} LoRA parameters");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command BuildInfo()
    {
        var modelDir = CommonOptions.Model();
        modelDir.Required = false;
        modelDir.Description = "Model folder to describe (family, shape, context, ids, files).";
        var dataDir = CommonOptions.DataDir();
        var config = CommonOptions.Config();
        var json = CommonOptions.Json();
        var cmd = new Command("info", "Show what a model folder holds, or (without --model) the device's active model and the slot kept for rollback.")
        {
            modelDir, dataDir, config, json,
        };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            var dir = parse.GetValue(modelDir);
            if (dir is null)
            {
                return ShowSlots(new ModelSlots(DevicePaths.DataDir(parse, dataDir, config)), parse.GetValue(json));
            }

            if (parse.GetValue(dataDir) is not null)
            {
                throw new ArgumentException("--model and --data-dir: give one (a model folder, or the device whose slots to show)");
            }

            var info = ModelFolderInfo.Read(dir);
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(info);
            }
            else
            {
                Console.WriteLine(info.ToText());
            }

            return 0;
        }));
        return cmd;
    }

    private static int ShowSlots(ModelSlots slots, bool json)
    {
        var report = slots.Describe();
        if (json)
        {
            CliOutput.WriteJson(report);
            return 0;
        }

        static string Line(SlotInfo? s) => s is null ? "(none)" : $"{s.Name} {s.Version} ({s.Path}{(s.Complete ? "" : ", INCOMPLETE")})";
        Console.WriteLine($"active:   {Line(report.Active)}");
        Console.WriteLine($"previous: {Line(report.Previous)}");
        if (report.Pending is { } pending)
        {
            Console.WriteLine($"pending:  {pending.Slot} at {pending.Step}");
        }

        if (report.LastFailure is { } failure)
        {
            Console.WriteLine($"last failure: {failure.Slot} {failure.State}: {failure.Reason}");
        }

        return 0;
    }
}
