using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using EdgeLlm.Cli.Commands;
using EdgeLlm.Cli.Doctor;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Cli.Tests.Doctor;

/// <summary>`edgellm doctor` on this machine, through the real executable, ONNX Runtime and synthesizer.</summary>
public sealed class DoctorCliTests
{
    [Fact]
    public async Task Doctor_Json_ReportsThisMachineAndMeasuresDecodeSpeed()
    {
        using var data = TestPaths.NewTempDir();
        var before = Directory.GetDirectories(Path.GetTempPath(), "edgellm-doctor-*").Length;
        var report = (await Cli.RunAsync("doctor", "--json", "--shape", "smollm2-135m", "--data-dir", data.Path)).Json();

        var cpu = report.GetProperty("cpu");
        Assert.Equal("x64", cpu.GetProperty("architecture").GetString());
        Assert.Equal(Environment.ProcessorCount, cpu.GetProperty("logical_cores").GetInt32());
        Assert.InRange(cpu.GetProperty("physical_cores").GetInt32(), 1, Environment.ProcessorCount);
        Assert.Equal(Avx2.IsSupported, cpu.GetProperty("features").GetProperty("avx2").GetBoolean());
        Assert.True(report.GetProperty("memory").GetProperty("total_bytes").GetInt64() > 0);
        Assert.True(report.GetProperty("disk").GetProperty("free_bytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Null, report.GetProperty("jetson").ValueKind);
        Assert.Contains("CPUExecutionProvider", report.GetProperty("onnxruntime").GetProperty("providers").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        Assert.Contains("smollm2-135m", report.GetProperty("shapes").EnumerateArray().Select(s => s.GetProperty("name").GetString()));

        var bench = report.GetProperty("bench");
        Assert.Equal("smollm2-135m", bench.GetProperty("shape").GetString());
        Assert.True(bench.GetProperty("decode_tokens_per_second").GetDouble() > 0);
        Assert.True(bench.GetProperty("prefill_tokens_per_second").GetDouble() > 0);
        Assert.Equal(HardwareCheck.BenchGeneratedTokens, bench.GetProperty("generated_tokens").GetInt32());
        Assert.True(report.GetProperty("can_run").GetBoolean());
        Assert.Equal(before, Directory.GetDirectories(Path.GetTempPath(), "edgellm-doctor-*").Length);
    }

    [Fact]
    public async Task Doctor_NoBench_LeavesBenchOutAndPrintsSections()
    {
        using var data = TestPaths.NewTempDir();
        var result = await Cli.RunAsync("doctor", "--no-bench", "--data-dir", data.Path);
        Assert.Equal(0, result.ExitCode);
        // The CPU verdict is this machine's: a CI machine without AVX2 (or a run with DOTNET_EnableAVX2=0) gets the warning.
        var cpuVerdict = Avx2.IsSupported ? "[cpu] ok" : "[cpu] warning: no AVX2";
        foreach (var section in new[] { cpuVerdict, "[memory]", "[disk]", "[jetson] ok: not a Jetson", "[npu]", "[onnxruntime] ok", "[shapes]", "[bench] ok: skipped" })
        {
            Assert.Contains(section, result.Stdout, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("synthesizing", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gpt-5")]
    [InlineData("tiny")]
    [InlineData("")]
    [InlineData("../../etc/passwd")]
    public async Task Doctor_UnknownShape_ExitsWithUsageErrorNamingTheShapes(string shape)
    {
        var result = await Cli.RunAsync("doctor", "--json", "--shape", shape);
        Assert.Equal(DoctorCommand.UsageError, result.ExitCode);
        using var error = JsonDocument.Parse(result.Stderr);
        var message = error.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains($"'{shape}'", message, StringComparison.Ordinal);
        Assert.Contains("smollm2-135m", message, StringComparison.Ordinal);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task Doctor_OnAMachineWhereNoShapeFits_CannotRun()
    {
        using var root = TestPaths.NewTempDir();
        Directory.CreateDirectory(Path.Combine(root.Path, "proc"));
        File.WriteAllText(Path.Combine(root.Path, "proc", "meminfo"), "MemTotal: 262144 kB\nMemAvailable: 131072 kB\n");
        var report = await HardwareCheck.RunAsync(new DoctorSettings { Root = root.Path, DataDir = root.Path, ContextTokens = 2048, Bench = false }, null, CancellationToken.None);
        Assert.False(report.CanRun);
        Assert.All(report.Shapes, s => Assert.Equal(ShapeFit.DoesNotFit, s.Verdict));
        Assert.StartsWith("error: no model shape fits", report.Verdicts["memory"], StringComparison.Ordinal);
        Assert.Null(report.Bench);
    }
}
