using System.Runtime.InteropServices;
using EdgeLlm.Cli.Doctor;

namespace EdgeLlm.Cli.Tests.Doctor;

public sealed class ParserTests
{
    private static string[] Lines(string text) => text.Split('\n');

    [Fact]
    public void CpuInfo_X86_ReadsModelNameAndFlags()
    {
        var info = CpuInfo.Parse(Lines(Samples.X86CpuInfo));
        Assert.Equal("12th Gen Intel(R) Core(TM) i7-1265U", info.ModelName);
        Assert.Equal(2, info.Processors);
        var features = CpuFeatures.FromFlags(Architecture.X64, info.Flags);
        Assert.True(features["avx2"]);
        Assert.True(features["fma"]);
        Assert.True(features["f16c"]);
        Assert.True(features["avx_vnni"]);
        Assert.False(features["avx512f"]);
        Assert.False(features["avx512vbmi"]);
    }

    [Fact]
    public void CpuInfo_Rk3588_NamesTheCoresFromTheirPartNumbers()
    {
        var info = CpuInfo.Parse(Lines(Samples.Rk3588CpuInfo));
        Assert.Equal("2x Cortex-A55 + 2x Cortex-A76", info.ModelName);
        Assert.Equal(4, info.Processors);
        var features = CpuFeatures.FromFlags(Architecture.Arm64, info.Flags);
        Assert.True(features["asimd"]);
        Assert.True(features["dotprod"]);
        Assert.True(features["rdm"]);
        Assert.True(features["fp16"]);
        Assert.False(features["sve"]);
        Assert.False(features["i8mm"]);
        Assert.DoesNotContain("avx2", features.Keys);
    }

    [Fact]
    public void CpuInfo_JetsonOrin_PrefersThePartNameToArmv8Processor()
    {
        var info = CpuInfo.Parse(Lines(Samples.OrinCpuInfo));
        Assert.Equal("2x Cortex-A78AE", info.ModelName);
        Assert.True(CpuFeatures.FromFlags(Architecture.Arm64, info.Flags)["dotprod"]);
    }

    [Fact]
    public void CpuInfo_EmptyOrGarbage_GivesNoModelAndNoFlags()
    {
        var info = CpuInfo.Parse(["", "no colon here", ":", "\0\0\0"]);
        Assert.Null(info.ModelName);
        Assert.Empty(info.Flags);
        Assert.Equal(0, info.Processors);
    }

    [Fact]
    public void MemInfo_ReadsTotalAndAvailableInBytes()
    {
        var mem = MemInfo.Parse(Lines(Samples.MemInfo));
        Assert.Equal(7989472L * 1024, mem.TotalBytes);
        Assert.Equal(5123044L * 1024, mem.AvailableBytes);
    }

    [Fact]
    public void MemInfo_WithoutMemAvailable_FallsBackToTotal()
    {
        var mem = MemInfo.Parse(["MemTotal:  1024 kB", "MemFree:  10 kB"]);
        Assert.Equal(1024L * 1024, mem.AvailableBytes);
    }

    [Theory]
    [InlineData("MemFree: 10 kB")]
    [InlineData("MemTotal: -5 kB")]
    [InlineData("MemTotal: lots kB")]
    [InlineData("MemTotal: 99999999999999999999999 kB")]
    [InlineData("MemTotal: 9223372036854775807 kB")]
    public void MemInfo_Malformed_ThrowsFormatExceptionNamingTheFile(string line)
    {
        var ex = Assert.Throws<FormatException>(() => MemInfo.Parse([line]));
        Assert.StartsWith("meminfo:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TegraRelease_Orin_ReadsReleaseRevisionAndBoard()
    {
        var release = TegraRelease.Parse(Samples.OrinTegraRelease);
        Assert.Equal("R35", release.Release);
        Assert.Equal("4.1", release.Revision);
        Assert.Equal("t186ref", release.Board);
        Assert.Equal("R35.4.1", release.Version);
    }

    [Theory]
    [InlineData("")]
    [InlineData("TARGET_USERSPACE_LIB_DIR=nvidia")]
    [InlineData("# hello, REVISION: 1")]
    [InlineData("# R (release)")]
    public void TegraRelease_Malformed_ThrowsFormatException(string text)
    {
        var ex = Assert.Throws<FormatException>(() => TegraRelease.Parse(text));
        Assert.StartsWith("nv_tegra_release:", ex.Message, StringComparison.Ordinal);
    }
}
