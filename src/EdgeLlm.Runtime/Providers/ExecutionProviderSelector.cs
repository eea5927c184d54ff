using EdgeLlm.Runtime.ModelFolders;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace EdgeLlm.Runtime.Providers;

/// <summary>
/// Registers configured plugin execution provider libraries with ONNX Runtime and ranks the providers a model
/// could run on by <see cref="ProviderPolicy"/>. Nothing here throws for a bad library or an unavailable provider:
/// each becomes a reason in the plan, and the CPU remains the last resort.
/// </summary>
internal static class ExecutionProviderSelector
{
    // genai_config.json names providers by short names; ONNX Runtime reports the long ones.
    private static readonly (string Short, string OrtName, string AppendName, ProviderDevice Device)[] KnownProviders =
    [
        ("cuda", "CUDAExecutionProvider", "CUDA", ProviderDevice.Gpu),
        ("rocm", "ROCMExecutionProvider", "ROCM", ProviderDevice.Gpu),
        ("migraphx", "MIGraphXExecutionProvider", "MIGraphX", ProviderDevice.Gpu),
        ("tensorrt", "TensorrtExecutionProvider", "TensorRT", ProviderDevice.Gpu),
        ("nvtensorrtrtx", "NvTensorRTRTXExecutionProvider", "NvTensorRtRtx", ProviderDevice.Gpu),
        ("dml", "DmlExecutionProvider", "DML", ProviderDevice.Gpu),
        ("webgpu", "WebGpuExecutionProvider", "WebGPU", ProviderDevice.Gpu),
        ("qnn", "QNNExecutionProvider", "QNN", ProviderDevice.Npu),
        ("snpe", "SNPEExecutionProvider", "SNPE", ProviderDevice.Npu),
        ("vitisai", "VitisAIExecutionProvider", "VitisAI", ProviderDevice.Npu),
        ("coreml", "CoreMLExecutionProvider", "CoreML", ProviderDevice.Npu),
        ("openvino", "OpenVINOExecutionProvider", "OpenVINO", ProviderDevice.Cpu),
        ("xnnpack", "XnnpackExecutionProvider", "XNNPACK", ProviderDevice.Cpu),
    ];

    private static readonly Lock RegistryLock = new();
    private static readonly Dictionary<string, string> Registered = new(StringComparer.Ordinal);

    /// <summary>The kind of device a built-in provider (by ONNX Runtime's name) runs on; CPU for the CPU provider and unknown names.</summary>
    public static ProviderDevice DeviceOfBuiltIn(string ortName) =>
        Array.Find(KnownProviders, p => p.OrtName == ortName) is { OrtName: not null } known ? known.Device : ProviderDevice.Cpu;

    /// <summary>
    /// Registers <paramref name="libraries"/> (unless the policy is CPU only) and ranks the candidates:
    /// plugin EP devices and the providers named in genai_config.json's <c>provider_options</c>.
    /// </summary>
    public static ProviderPlan Plan(ProviderPolicy policy, IReadOnlyCollection<ExecutionProviderLibrary> libraries, SessionConfig session, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(libraries);
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(logger);

        if (policy == ProviderPolicy.CpuOnly)
        {
            ProviderLog.CpuOnly(logger, libraries.Count);
            return new ProviderPlan([], []);
        }

        var reasons = new List<string>();
        var env = OrtEnv.Instance();
        foreach (var library in libraries)
        {
            if (TryRegister(env, library, logger) is { } failure)
            {
                reasons.Add(failure);
                ProviderLog.Skipped(logger, failure);
            }
        }

        var candidates = new List<ProviderCandidate>();
        var matchedConfigProviders = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        AddEpDeviceCandidates(env, session, candidates, matchedConfigProviders);
        AddBuiltInCandidates(env, session, matchedConfigProviders, candidates, reasons, logger);

        var ranked = candidates.OrderBy(c => Rank(c.Device, policy)).ToList();
        return new ProviderPlan(ranked, reasons);
    }

    private static int Rank(ProviderDevice device, ProviderPolicy policy) => (device, policy) switch
    {
        (ProviderDevice.Npu, ProviderPolicy.PreferNpu) or (ProviderDevice.Gpu, ProviderPolicy.PreferGpu) => 0,
        (ProviderDevice.Gpu, _) or (ProviderDevice.Npu, _) => 1,
        _ => 2,
    };

    /// <returns>Null when the library is registered (now or earlier); otherwise why it is not.</returns>
    private static string? TryRegister(OrtEnv env, ExecutionProviderLibrary library, ILogger logger)
    {
        var prefix = $"Execution provider library '{library.Name}' ({library.Path})";
        if (string.IsNullOrWhiteSpace(library.Name) || string.IsNullOrWhiteSpace(library.Path))
        {
            return $"{prefix} is not used: both Name and Path must be set in the ExecutionProviderLibraries configuration.";
        }

        var path = Path.GetFullPath(library.Path);
        if (!File.Exists(path))
        {
            return $"{prefix} is not used: the file {path} does not exist. Fix the path in the ExecutionProviderLibraries configuration or remove the entry.";
        }

        lock (RegistryLock)
        {
            if (Registered.TryGetValue(library.Name, out var registeredPath))
            {
                return string.Equals(registeredPath, path, StringComparison.Ordinal)
                    ? null
                    : $"{prefix} is not used: the name '{library.Name}' is already registered for {registeredPath}; give each library its own name.";
            }

            try
            {
                env.RegisterExecutionProviderLibrary(library.Name, path);
            }
            catch (OnnxRuntimeException ex)
            {
                return $"{prefix} is not used: ONNX Runtime cannot load it as a plugin execution provider library ({ex.Message.Trim()}). " +
                    "It must be a shared library built for this platform that exports CreateEpFactories for ONNX Runtime 1.31.";
            }

            Registered[library.Name] = path;
        }

        ProviderLog.LibraryRegistered(logger, library.Name, path);
        return null;
    }

    private static void AddEpDeviceCandidates(OrtEnv env, SessionConfig session, List<ProviderCandidate> candidates, HashSet<string> matchedConfigProviders)
    {
        // ONNX Runtime wants all devices of one provider in a single append call.
        var byProvider = new Dictionary<(string Ep, ProviderDevice Device), List<OrtEpDevice>>();
        var order = new List<(string Ep, ProviderDevice Device)>();
        foreach (var device in env.GetEpDevices())
        {
            if (string.Equals(device.EpName, ActiveProvider.CpuProviderName, StringComparison.Ordinal))
            {
                continue;
            }

            var key = (device.EpName, ToDevice(device.HardwareDevice.Type));
            if (!byProvider.TryGetValue(key, out var list))
            {
                byProvider[key] = list = [];
                order.Add(key);
            }

            list.Add(device);
        }

        foreach (var key in order)
        {
            var devices = byProvider[key];
            var config = FindConfig(session, key.Ep);
            if (config is not null)
            {
                matchedConfigProviders.Add(config.Name);
            }

            var epOptions = config?.Options ?? new Dictionary<string, string>();
            candidates.Add(new ProviderCandidate(key.Ep, key.Device, so => so.AppendExecutionProvider(env, devices, epOptions)));
        }
    }

    private static void AddBuiltInCandidates(
        OrtEnv env, SessionConfig session, HashSet<string> matched, List<ProviderCandidate> candidates, List<string> reasons, ILogger logger)
    {
        if (session.Providers.Count == 0)
        {
            return;
        }

        var available = env.GetAvailableProviders();
        foreach (var config in session.Providers)
        {
            if (matched.Contains(config.Name) || string.Equals(config.Name, "cpu", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var known = Array.Find(KnownProviders, p => string.Equals(p.Short, config.Name, StringComparison.OrdinalIgnoreCase));
            var ortName = known.OrtName ?? config.Name;
            if (!available.Contains(ortName, StringComparer.OrdinalIgnoreCase))
            {
                var reason = $"Execution provider '{config.Name}' named in genai_config.json (model.decoder.session_options.provider_options) " +
                    $"is not in this ONNX Runtime build (available: {string.Join(", ", available)}) and no registered plugin library provides it; " +
                    "add its plugin library to ExecutionProviderLibraries.";
                reasons.Add(reason);
                ProviderLog.Skipped(logger, reason);
                continue;
            }

            var device = known.OrtName is null ? ProviderDevice.Gpu : DeviceOf(known.Device, config);
            var appendName = known.AppendName ?? config.Name;
            var epOptions = new Dictionary<string, string>(config.Options, StringComparer.Ordinal);
            candidates.Add(new ProviderCandidate(ortName, device, so => so.AppendExecutionProvider(appendName, epOptions)));
        }
    }

    private static ProviderDevice DeviceOf(ProviderDevice byName, ProviderConfig config)
    {
        // OpenVINO serves CPU, GPU and NPU; its device_type option says which.
        if (config.Options.TryGetValue("device_type", out var type))
        {
            if (type.Contains("NPU", StringComparison.OrdinalIgnoreCase))
            {
                return ProviderDevice.Npu;
            }

            if (type.Contains("GPU", StringComparison.OrdinalIgnoreCase))
            {
                return ProviderDevice.Gpu;
            }
        }

        return byName;
    }

    private static ProviderConfig? FindConfig(SessionConfig session, string epName)
    {
        foreach (var config in session.Providers)
        {
            var known = Array.Find(KnownProviders, p => string.Equals(p.Short, config.Name, StringComparison.OrdinalIgnoreCase));
            if (string.Equals(config.Name, epName, StringComparison.OrdinalIgnoreCase) ||
                (known.OrtName is not null && string.Equals(known.OrtName, epName, StringComparison.OrdinalIgnoreCase)) ||
                epName.StartsWith(config.Name, StringComparison.OrdinalIgnoreCase))
            {
                return config;
            }
        }

        return null;
    }

    private static ProviderDevice ToDevice(OrtHardwareDeviceType type) => type switch
    {
        OrtHardwareDeviceType.GPU => ProviderDevice.Gpu,
        OrtHardwareDeviceType.NPU => ProviderDevice.Npu,
        _ => ProviderDevice.Cpu,
    };
}
