namespace EdgeLlm.Runtime.Providers;

/// <summary>Which kind of device the runtime tries first when choosing an execution provider.</summary>
public enum ProviderPolicy
{
    /// <summary>An NPU provider if one is available, then a GPU provider, then the CPU. The default.</summary>
    PreferNpu,

    /// <summary>A GPU provider if one is available, then an NPU provider, then the CPU.</summary>
    PreferGpu,

    /// <summary>The CPU only; configured provider libraries are not even loaded.</summary>
    CpuOnly,
}

/// <summary>The kind of device an execution provider runs on.</summary>
public enum ProviderDevice
{
    Cpu,
    Gpu,
    Npu,
}
