using EdgeLlm.Cli.Doctor;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Cli.Tests.Doctor;

/// <summary>The probe on fixture trees laid out like real boards (device nodes and libraries as empty files).</summary>
public sealed class DeviceProbeTests : IDisposable
{
    private readonly TempDir _root = TestPaths.NewTempDir();

    public void Dispose() => _root.Dispose();

    private void Write(string relative, string text = "")
    {
        var path = Path.Combine(_root.Path, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    private void JetsonOrin()
    {
        Write("proc/cpuinfo", Samples.OrinCpuInfo);
        Write("proc/meminfo", Samples.MemInfo);
        Write("etc/nv_tegra_release", Samples.OrinTegraRelease);
        Write("dev/nvhost-ctrl");
        Write("dev/nvhost-ctrl-gpu");
        Write("dev/nvmap");
        Write("dev/gpiochip0");
        Write("dev/i2c-1");
        Write("usr/local/cuda-11.4/lib64/libcudart.so.11.0");
        Write("usr/local/cuda-11.4/lib64/libcublas.so.11");
        Write("usr/local/cuda-11.4/lib64/libnvrtc.so.11.4");
        Write("usr/lib/aarch64-linux-gnu/libcudnn.so.8");
        Write("sys/fs/cgroup/memory.max", "max\n");
    }

    private void Rk3588()
    {
        Write("proc/cpuinfo", Samples.Rk3588CpuInfo);
        Write("proc/meminfo", Samples.MemInfo);
        Write("dev/rknpu");
        for (var i = 0; i <= 4; i++)
        {
            Write($"dev/gpiochip{i}");
        }

        Write("dev/i2c-0");
        Write("sys/bus/iio/devices/iio:device0/in_voltage0_raw", "1023\n");
        Write("sys/fs/cgroup/memory.max", "536870912\n");
    }

    [Fact]
    public void JetsonOrin_ReportsReleaseCudaLibrariesAndGpuNodes()
    {
        JetsonOrin();
        var probe = new DeviceProbe(_root.Path);
        var jetson = probe.Jetson();
        Assert.NotNull(jetson);
        Assert.Equal("R35", jetson.Release);
        Assert.Equal("4.1", jetson.Revision);
        Assert.Equal(
            ["/usr/lib/aarch64-linux-gnu/libcudnn.so.8", "/usr/local/cuda-11.4/lib64/libcublas.so.11", "/usr/local/cuda-11.4/lib64/libcudart.so.11.0"],
            jetson.CudaLibraries);
        Assert.Equal(["/dev/nvhost-ctrl", "/dev/nvhost-ctrl-gpu", "/dev/nvmap"], jetson.DeviceNodes);
        Assert.Empty(probe.NpuNodes());
        Assert.Null(probe.CgroupLimitBytes());
        Assert.Equal("2x Cortex-A78AE", probe.Cpu().ModelName);
    }

    [Fact]
    public void Rk3588_ReportsTheNpuSensorNodesAndCgroupLimit()
    {
        Rk3588();
        var probe = new DeviceProbe(_root.Path);
        Assert.Null(probe.Jetson());
        Assert.Equal(["/dev/rknpu"], probe.NpuNodes());
        var nodes = probe.SensorNodes();
        Assert.Equal(["/dev/gpiochip0", "/dev/gpiochip1", "/dev/gpiochip2", "/dev/gpiochip3", "/dev/gpiochip4"], nodes.GpioChips);
        Assert.Equal(["/dev/i2c-0"], nodes.I2cBuses);
        Assert.Equal(["/sys/bus/iio/devices/iio:device0"], nodes.IioDevices);
        Assert.Equal(512L * 1024 * 1024, probe.CgroupLimitBytes());
        Assert.Equal(5123044L * 1024, probe.Memory().AvailableBytes);
    }

    [Fact]
    public void OtherNpus_AreFoundByTheirNodeNames()
    {
        Write("dev/galcore");
        Write("dev/apex_0");
        Write("dev/accel/accel0");
        Write("dev/hailo0");
        Assert.Equal(["/dev/accel/accel0", "/dev/apex_0", "/dev/galcore", "/dev/hailo0"], new DeviceProbe(_root.Path).NpuNodes());
    }

    [Fact]
    public void EmptyRoot_FindsNothingAndHasNoJetson()
    {
        var probe = new DeviceProbe(_root.Path);
        Assert.Null(probe.Jetson());
        Assert.Empty(probe.CudaLibraries());
        Assert.Empty(probe.NpuNodes());
        Assert.Empty(probe.SensorNodes().GpioChips);
        Assert.Null(probe.CgroupLimitBytes());
        Assert.Null(probe.Cpu().ModelName);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("lots")]
    [InlineData("")]
    public void CgroupLimit_Malformed_ThrowsNamingTheFile(string text)
    {
        Write("sys/fs/cgroup/memory.max", text);
        var ex = Assert.Throws<FormatException>(() => new DeviceProbe(_root.Path).CgroupLimitBytes());
        Assert.Contains("memory.max", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CgroupV1WithoutLimit_ReadsAsNoLimit()
    {
        Write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
        Assert.Null(new DeviceProbe(_root.Path).CgroupLimitBytes());
    }

    [Fact]
    public void MalformedTegraRelease_IsAnErrorNotASilentNonJetson()
    {
        Write("etc/nv_tegra_release", "garbage");
        Assert.Throws<FormatException>(() => new DeviceProbe(_root.Path).Jetson());
    }
}
