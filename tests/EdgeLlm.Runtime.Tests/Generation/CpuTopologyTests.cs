using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Runtime.Tests.Generation;

public sealed class CpuTopologyTests
{
    [Fact]
    public void CountCores_SmtSiblings_CountOnce()
    {
        string[] cpuinfo =
        [
            "processor\t: 0", "physical id\t: 0", "core id\t: 0", "",
            "processor\t: 1", "physical id\t: 0", "core id\t: 0", "",
            "processor\t: 2", "physical id\t: 0", "core id\t: 1", "",
            "processor\t: 3", "physical id\t: 0", "core id\t: 1",
        ];
        Assert.Equal(2, CpuTopology.CountCores(cpuinfo));
    }

    [Fact]
    public void CountCores_TwoPackages_CountSeparately()
    {
        string[] cpuinfo = ["physical id : 0", "core id : 0", "", "physical id : 1", "core id : 0", ""];
        Assert.Equal(2, CpuTopology.CountCores(cpuinfo));
    }

    [Fact]
    public void CountCores_ArmCpuinfoWithoutCoreIds_IsUnknown()
    {
        string[] cpuinfo = ["processor : 0", "BogoMIPS : 108.00", "CPU part : 0xd08", "", "processor : 1", "BogoMIPS : 108.00"];
        Assert.Null(CpuTopology.CountCores(cpuinfo));
    }

    [Fact]
    public void PhysicalCores_IsWithinProcessorCount()
    {
        Assert.InRange(CpuTopology.PhysicalCores, 1, Environment.ProcessorCount);
    }
}
