using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace EdgeLlm.Cli.Doctor;

/// <summary>
/// The instruction-set extensions int4 inference speed depends on. For the running process the .NET intrinsics
/// answer (they also know whether the OS enabled the registers); what they do not cover comes from /proc/cpuinfo.
/// </summary>
internal static class CpuFeatures
{
    // Feature name in the report → the /proc/cpuinfo flag that says the same.
    private static readonly (string Name, string Flag)[] X86 =
    [
        ("avx2", "avx2"), ("fma", "fma"), ("f16c", "f16c"), ("avx_vnni", "avx_vnni"),
        ("avx512f", "avx512f"), ("avx512bw", "avx512bw"), ("avx512vbmi", "avx512vbmi"), ("avx10v1", "avx10"),
    ];

    private static readonly (string Name, string Flag)[] Arm64 =
    [
        ("asimd", "asimd"), ("dotprod", "asimddp"), ("rdm", "asimdrdm"), ("sve", "sve"), ("i8mm", "i8mm"), ("fp16", "fphp"),
    ];

    /// <summary>The features of <paramref name="architecture"/> as /proc/cpuinfo's flags state them.</summary>
    public static Dictionary<string, bool> FromFlags(Architecture architecture, IReadOnlySet<string> flags) => architecture switch
    {
        Architecture.X64 or Architecture.X86 => X86.ToDictionary(f => f.Name, f => flags.Contains(f.Flag)),
        Architecture.Arm64 => Arm64.ToDictionary(f => f.Name, f => flags.Contains(f.Flag)),
        _ => [],
    };

    /// <summary>The features of this process's processor: the intrinsics where .NET has them, the flags otherwise.</summary>
    public static Dictionary<string, bool> OfThisProcess(IReadOnlySet<string> flags)
    {
        var features = FromFlags(RuntimeInformation.ProcessArchitecture, flags);
        if (RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86)
        {
            features["avx2"] = Avx2.IsSupported;
            features["fma"] = Fma.IsSupported;
            features["avx_vnni"] = AvxVnni.IsSupported;
            features["avx512f"] = Avx512F.IsSupported;
            features["avx512bw"] = Avx512BW.IsSupported;
            features["avx512vbmi"] = Avx512Vbmi.IsSupported;
            features["avx10v1"] = Avx10v1.IsSupported;
        }
        else if (RuntimeInformation.ProcessArchitecture == Architecture.Arm64)
        {
            features["asimd"] = AdvSimd.IsSupported;
            features["dotprod"] = Dp.IsSupported;
            features["rdm"] = Rdm.IsSupported;

            // .NET's Sve class is still experimental (SYSLIB5003), so SVE comes from the Features line.
        }

        return features;
    }
}
