using System.Diagnostics;
using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Providers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// A decoder loaded from a model folder in onnxruntime-genai's layout: its genai_config.json and one ONNX Runtime
/// session. Thread-safe: any number of <see cref="GenerationSequence"/>s may run on it at once.
/// </summary>
internal sealed class OnnxModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _sessionOptions;
    private long _runs;
    private long _runTicks;
    private bool _disposed;

    private OnnxModel(string folder, GenAiConfig config, RuntimeOptions options, InferenceSession session, SessionOptions sessionOptions,
        ActiveProvider provider, ModelSignature signature)
    {
        Folder = folder;
        Config = config;
        Options = options;
        _session = session;
        _sessionOptions = sessionOptions;
        ActiveProvider = provider;
        Signature = signature;
        Adapters = AdapterSet.Open(session, folder, Path.Combine(folder, config.Decoder.FileName));
        PrefixCache = new PrefixCache(options.PrefixCacheBytes, options.PrefixCacheMinTokens);
    }

    public string Folder { get; }

    public GenAiConfig Config { get; }

    public RuntimeOptions Options { get; }

    /// <summary>The execution provider the session runs on, and why better-ranked ones were not used.</summary>
    public ActiveProvider ActiveProvider { get; }

    internal ModelSignature Signature { get; }

    /// <summary>Whether the session runs the last-position-logits rewrite, and why (or why not).</summary>
    internal PreparedGraph Graph { get; private init; } = new(null, "", Written: false);

    /// <summary>The prompt prefixes whose key/value state this model keeps (<see cref="RuntimeOptions.PrefixCacheBytes"/>).</summary>
    internal PrefixCache PrefixCache { get; }

    /// <summary>The LoRA adapters loaded on this model; those in the model folder's <c>adapters/</c> are loaded with it.</summary>
    public AdapterSet Adapters { get; }

    /// <summary>Runs of the session so far, over all sequences.</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>Time spent inside <see cref="InferenceSession"/> runs so far, over all sequences (for benchmarks: the rest of decode time is ours).</summary>
    public TimeSpan RunTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _runTicks));

    internal void CountRun(long ticks)
    {
        Interlocked.Increment(ref _runs);
        Interlocked.Add(ref _runTicks, ticks);
    }

    internal InferenceSession Session => _session;

    /// <summary>Loads the model folder <paramref name="folder"/>.</summary>
    /// <exception cref="ModelFolderException">A file or field of the folder is missing or does not match the model.</exception>
    public static OnnxModel Load(string folder, RuntimeOptions? options = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        options ??= new RuntimeOptions();
        logger ??= NullLogger.Instance;

        var config = GenAiConfig.Load(folder);
        var configPath = Path.Combine(folder, GenAiConfig.FileName);
        var modelPath = Path.Combine(folder, config.Decoder.FileName);
        if (!File.Exists(modelPath))
        {
            throw new ModelFolderException(configPath, "model.decoder.filename", $"names '{config.Decoder.FileName}', but {modelPath} does not exist.");
        }

        var plan = ExecutionProviderSelector.Plan(options.ProviderPolicy, options.ExecutionProviderLibraries.AsReadOnly(), config.Decoder.SessionOptions, logger);
        var graph = options.LastPositionLogitsOnly
            ? LastLogitsGraph.Prepare(modelPath, config.Decoder.LogitsName, options.GraphCacheDirectory, logger)
            : new PreparedGraph(null, "RuntimeOptions.LastPositionLogitsOnly is off", Written: false);
        InferenceSession session;
        SessionOptions sessionOptions;
        ActiveProvider provider;
        try
        {
            (session, sessionOptions, provider) = CreateSession(modelPath, graph.RewrittenPath, config, options, plan, new List<string>(plan.Reasons), logger);
        }
        catch (ModelFolderException ex) when (graph.RewrittenPath is not null)
        {
            LastLogitsGraph.LoadFailed(logger, graph.RewrittenPath, ex.Message);
            graph = new PreparedGraph(null, $"ONNX Runtime could not load the rewritten graph: {ex.Message}", Written: false);
            (session, sessionOptions, provider) = CreateSession(modelPath, null, config, options, plan, new List<string>(plan.Reasons), logger);
        }

        try
        {
            var signature = ModelSignature.Read(session, config, configPath, modelPath);
            ProviderLog.Active(logger, provider.Name, provider.Device);
            return new OnnxModel(folder, config, options, session, sessionOptions, provider, signature) { Graph = graph };
        }
        catch
        {
            session.Dispose();
            sessionOptions.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts a sequence whose key/value cache holds <paramref name="maxLength"/> tokens (prompt and generated), running
    /// with <paramref name="adapter"/> (one of <see cref="Adapters"/>) active, or the base model when null.
    /// </summary>
    public GenerationSequence CreateSequence(int maxLength, LoadedAdapter? adapter = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxLength, Config.ContextLength);
        return new GenerationSequence(this, maxLength, adapter);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Adapters.Dispose();
        _session.Dispose();
        _sessionOptions.Dispose();
    }

    private static (InferenceSession, SessionOptions, ActiveProvider) CreateSession(
        string modelPath, string? rewrittenPath, GenAiConfig config, RuntimeOptions options, ProviderPlan plan, List<string> reasons, ILogger logger)
    {
        var rewritten = rewrittenPath is null ? null : File.ReadAllBytes(rewrittenPath);
        InferenceSession Open(SessionOptions so)
        {
            if (rewritten is null)
            {
                return new InferenceSession(modelPath, so);
            }

            // The rewrite lives in a cache folder but its external data paths are relative to the model's folder. ONNX
            // Runtime requires the data to resolve inside that folder after following links, so a model file linked
            // from elsewhere (a folder of symlinks) names the folder it really lives in.
            var real = File.ResolveLinkTarget(modelPath, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(modelPath);
            so.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", Path.GetDirectoryName(real)!);
            return new InferenceSession(rewritten, so);
        }

        foreach (var candidate in plan.Candidates)
        {
            var so = CreateSessionOptions(config, options);
            try
            {
                candidate.AppendTo(so);
                var session = Open(so);
                return (session, so, new ActiveProvider(candidate.Name, candidate.Device, reasons));
            }
            catch (OnnxRuntimeException ex)
            {
                so.Dispose();
                var reason = $"Execution provider {candidate} cannot run {modelPath}: {ex.Message.Trim()}";
                reasons.Add(reason);
                ProviderLog.Skipped(logger, reason);
            }
        }

        if (reasons.Count > 0)
        {
            ProviderLog.CpuFallback(logger, string.Join(" | ", reasons));
        }

        var cpuOptions = CreateSessionOptions(config, options);
        try
        {
            var session = Open(cpuOptions);
            return (session, cpuOptions, new ActiveProvider(ActiveProvider.CpuProviderName, ProviderDevice.Cpu, reasons));
        }
        catch (OnnxRuntimeException ex)
        {
            cpuOptions.Dispose();
            throw new ModelFolderException(modelPath, null,
                $"ONNX Runtime cannot load the model ({ex.Message.Trim()}); re-export it with onnxruntime-genai's model builder or `edgellm model synth`.", ex);
        }
    }

    private static SessionOptions CreateSessionOptions(GenAiConfig config, RuntimeOptions options)
    {
        var session = config.Decoder.SessionOptions;
        var so = new SessionOptions
        {
            GraphOptimizationLevel = options.GraphOptimization switch
            {
                GraphOptimization.Disabled => GraphOptimizationLevel.ORT_DISABLE_ALL,
                GraphOptimization.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                GraphOptimization.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
            IntraOpNumThreads = options.IntraOpNumThreads ?? session.IntraOpNumThreads ?? CpuTopology.PhysicalCores,
            InterOpNumThreads = session.InterOpNumThreads ?? 0,
            LogId = session.LogId ?? "edgellm",
        };
        if (options.AllowSpinning is { } spinning)
        {
            so.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
        }

        foreach (var (key, value) in options.SessionConfigEntries)
        {
            so.AddSessionConfigEntry(key, value);
        }

        if (options.ProfilePathPrefix is { } profile)
        {
            // The prefix is read when profiling is enabled, so it goes first.
            so.ProfileOutputPathPrefix = profile;
            so.EnableProfiling = true;
        }

        return so;
    }
}
