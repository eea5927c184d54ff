using System.CommandLine;
using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Providers;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Cli.Commands;

/// <summary>The options every model-running command shares (model folder, threads, providers) and how they load a model.</summary>
internal sealed class ModelLoading
{
    public Option<string> Model { get; } = CommonOptions.Model();
    public Option<int> Threads { get; } = CommonOptions.Threads();
    public Option<string> Provider { get; } = CommonOptions.Provider();
    public Option<string[]> EpLibraries { get; } = CommonOptions.EpLibraries();
    public Option<int?> PrefillChunk { get; } = new("--prefill-chunk") { Description = "Most prompt tokens per prefill run; bounds prefill memory (default 128; 0 = the whole prompt at once)." };
    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Log provider selection and model loading to stderr." };

    public void AddTo(Command command)
    {
        command.Add(Model);
        command.Add(Threads);
        command.Add(Provider);
        command.Add(EpLibraries);
        command.Add(PrefillChunk);
        command.Add(Verbose);
    }

    public RuntimeOptions RuntimeOptions(ParseResult parse)
    {
        var options = new RuntimeOptions
        {
            ProviderPolicy = parse.GetValue(Provider) switch
            {
                "cpu" => ProviderPolicy.CpuOnly,
                "prefer-npu" => ProviderPolicy.PreferNpu,
                "prefer-gpu" => ProviderPolicy.PreferGpu,
                var other => throw new ArgumentException($"--provider: '{other}' is not one of cpu, prefer-npu, prefer-gpu"),
            },
        };
        var threads = parse.GetValue(Threads);
        if (threads < 0)
        {
            throw new ArgumentException($"--threads: {threads} is negative (0 = one per core)");
        }

        options.IntraOpNumThreads = threads == 0 ? null : threads;
        if (parse.GetValue(PrefillChunk) is { } chunk)
        {
            options.PrefillChunkTokens = chunk >= 0 ? chunk : throw new ArgumentException($"--prefill-chunk: {chunk} is negative (0 = the whole prompt in one run)");
        }

        foreach (var spec in parse.GetValue(EpLibraries) ?? [])
        {
            var eq = spec.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == spec.Length - 1)
            {
                throw new ArgumentException($"--ep-library: '{spec}' must be NAME=PATH");
            }

            options.ExecutionProviderLibraries.Add(new ExecutionProviderLibrary { Name = spec[..eq], Path = spec[(eq + 1)..] });
        }

        return options;
    }

    public LocalModel Load(ParseResult parse, ILoggerFactory loggers) =>
        LocalModel.Load(parse.GetValue(Model)!, RuntimeOptions(parse), logger: loggers.CreateLogger("EdgeLlm.Runtime"));

    public ILoggerFactory Loggers(ParseResult parse) => LoggerFactory.Create(b => b
        .SetMinimumLevel(parse.GetValue(Verbose) ? LogLevel.Debug : LogLevel.Warning)
        .AddSimpleConsole(o => o.SingleLine = true)
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
}

/// <summary>Sampling options of `generate` and `chat`.</summary>
internal sealed class SamplingOptions
{
    public Option<int?> MaxTokens { get; } = new("--max-tokens") { Description = "Most tokens to generate (default: until a stop token or the model's max_length)." };
    public Option<bool> Greedy { get; } = new("--greedy") { Description = "Always pick the most likely token (deterministic)." };
    public Option<double?> Temperature { get; } = new("--temperature") { Description = "Sampling temperature (default: the model's search.temperature; sampling is on when set above 0)." };
    public Option<int?> TopK { get; } = new("--top-k") { Description = "Sample among the K most likely tokens (0 = all)." };
    public Option<double?> TopP { get; } = new("--top-p") { Description = "Nucleus sampling: smallest set of tokens with probability ≥ P." };
    public Option<double?> RepetitionPenalty { get; } = new("--repetition-penalty") { Description = "Penalty for tokens already seen (1 = off)." };
    public Option<ulong?> Seed { get; } = new("--seed") { Description = "Sampler seed: the same seed gives the same output." };
    public Option<string[]> Stop { get; } = new("--stop") { Description = "A string that ends the answer (repeatable)." };
    public Option<string?> Adapter { get; } = new("--adapter")
    {
        Description = "LoRA adapter for this request: a name from the model's adapters/ folder, or a path to an .onnx_adapter file.",
    };

    public void AddTo(Command command)
    {
        command.Add(MaxTokens);
        command.Add(Greedy);
        command.Add(Temperature);
        command.Add(TopK);
        command.Add(TopP);
        command.Add(RepetitionPenalty);
        command.Add(Seed);
        command.Add(Stop);
        command.Add(Adapter);
    }

    public GenerationOptions Generation(ParseResult parse)
    {
        var greedy = parse.GetValue(Greedy);
        var temperature = parse.GetValue(Temperature);
        var samplingAsked = temperature > 0 || parse.GetValue(TopK) is > 0 || parse.GetValue(TopP) is < 1 || parse.GetValue(Seed) is not null;
        if (greedy && samplingAsked)
        {
            throw new ArgumentException("--greedy cannot be combined with --temperature, --top-k, --top-p or --seed");
        }

        return new GenerationOptions
        {
            MaxNewTokens = parse.GetValue(MaxTokens),
            DoSample = greedy ? false : samplingAsked ? true : null,
            Temperature = temperature,
            TopK = parse.GetValue(TopK),
            TopP = parse.GetValue(TopP),
            RepetitionPenalty = parse.GetValue(RepetitionPenalty),
            Seed = parse.GetValue(Seed),
            Adapter = AdapterName(parse),
        };
    }

    /// <summary>Loads an adapter given as a file path into <paramref name="model"/>; names from adapters/ need nothing.</summary>
    public void LoadAdapterFile(ParseResult parse, LocalModel model)
    {
        if (parse.GetValue(Adapter) is { } value && IsPath(value))
        {
            model.Model.Adapters.Load(Path.GetFileNameWithoutExtension(value), value);
        }
    }

    private string? AdapterName(ParseResult parse) =>
        parse.GetValue(Adapter) is { } value && IsPath(value) ? Path.GetFileNameWithoutExtension(value) : parse.GetValue(Adapter);

    private static bool IsPath(string value) =>
        value.EndsWith(".onnx_adapter", StringComparison.Ordinal) || value.Contains('/', StringComparison.Ordinal);

    public IReadOnlyList<string> StopStrings(ParseResult parse) => parse.GetValue(Stop) ?? [];
}
