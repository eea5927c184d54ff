namespace EdgeLlm.Cli.Tests.Doctor;

/// <summary>/proc and /etc text as real boards print it (cut to a few processors).</summary>
internal static class Samples
{
    public const string X86CpuInfo = """
        processor	: 0
        vendor_id	: GenuineIntel
        cpu family	: 6
        model		: 154
        model name	: 12th Gen Intel(R) Core(TM) i7-1265U
        stepping	: 4
        physical id	: 0
        siblings	: 12
        core id		: 0
        cpu cores	: 10
        flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves avx_vnni umip gfni vaes vpclmulqdq rdpid movdiri movdir64b fsrm serialize
        bogomips	: 5376.00

        processor	: 1
        vendor_id	: GenuineIntel
        model name	: 12th Gen Intel(R) Core(TM) i7-1265U
        physical id	: 0
        core id		: 0
        flags		: fpu vme de pse tsc msr pae mce cx8 apic sep fma avx f16c avx2 avx_vnni
        bogomips	: 5376.00

        """;

    /// <summary>A Rockchip RK3588: four Cortex-A55 and four Cortex-A76 (two of each shown).</summary>
    public const string Rk3588CpuInfo = """
        processor	: 0
        BogoMIPS	: 48.00
        Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
        CPU implementer	: 0x41
        CPU architecture: 8
        CPU variant	: 0x2
        CPU part	: 0xd05
        CPU revision	: 0

        processor	: 1
        BogoMIPS	: 48.00
        Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
        CPU implementer	: 0x41
        CPU architecture: 8
        CPU variant	: 0x2
        CPU part	: 0xd05
        CPU revision	: 0

        processor	: 4
        BogoMIPS	: 48.00
        Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
        CPU implementer	: 0x41
        CPU architecture: 8
        CPU variant	: 0x4
        CPU part	: 0xd0b
        CPU revision	: 0

        processor	: 5
        BogoMIPS	: 48.00
        Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
        CPU implementer	: 0x41
        CPU architecture: 8
        CPU variant	: 0x4
        CPU part	: 0xd0b
        CPU revision	: 0

        """;

    /// <summary>A Jetson AGX Orin: Cortex-A78AE cores (two shown).</summary>
    public const string OrinCpuInfo = """
        processor	: 0
        model name	: ARMv8 Processor rev 1 (v8l)
        BogoMIPS	: 62.50
        Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg
        CPU implementer	: 0x41
        CPU architecture: 8
        CPU variant	: 0x0
        CPU part	: 0xd42
        CPU revision	: 1

        processor	: 1
        model name	: ARMv8 Processor rev 1 (v8l)
        BogoMIPS	: 62.50
        Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg
        CPU implementer	: 0x41
        CPU architecture: 8
        CPU variant	: 0x0
        CPU part	: 0xd42
        CPU revision	: 1

        """;

    public const string MemInfo = """
        MemTotal:        7989472 kB
        MemFree:          214520 kB
        MemAvailable:    5123044 kB
        Buffers:           98304 kB
        Cached:          4521980 kB
        SwapTotal:             0 kB
        """;

    public const string OrinTegraRelease = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n" +
        "# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\nTARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n";
}
