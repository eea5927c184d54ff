using System.Diagnostics;
using System.Globalization;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Sensors;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>What the telemetry sampler and the reported state read from the device and the agent.</summary>
internal interface IDeviceProbe
{
    /// <summary>The agent's status (state, model, provider, queue depth, version).</summary>
    StatusMessage Status();

    /// <summary>Why no model runs, or null.</summary>
    string? UnavailableReason { get; }

    /// <summary>Thermal zones (CPU/SoC), in °C.</summary>
    IReadOnlyList<(string Sensor, double Celsius)> Temperatures();

    /// <summary>MemAvailable of /proc/meminfo, or null when it cannot be read.</summary>
    long? MemoryAvailableBytes();

    long ProcessWorkingSetBytes();

    /// <summary>Free bytes on the data directory's file system, or null.</summary>
    long? DiskFreeBytes();
}

/// <summary>
/// The real probe: the status board, the thermal zones the sensors piece discovered under <c>Sensors:SysfsRoot</c>
/// (read now, not from the store), <c>{SysfsRoot}/proc/meminfo</c> (falling back to /proc/meminfo), and the data directory.
/// </summary>
internal sealed class DeviceProbe(StatusBoard status, ActiveModel model, SensorHub sensors, SensorOptions sensorOptions, IOptions<AgentOptions> agent) : IDeviceProbe
{
    public StatusMessage Status() => status.Current();

    public string? UnavailableReason => model.UnavailableReason;

    public IReadOnlyList<(string Sensor, double Celsius)> Temperatures()
    {
        var found = new List<(string, double)>();
        foreach (var s in sensors.Catalog.Sensors.Where(s => s.Source == SensorSourceKind.Thermal))
        {
            if (sensors.TryReadNow(s.Id, out var value, out _))
            {
                found.Add((s.Id, Math.Round(value, 3)));
            }
        }

        return found;
    }

    public long? MemoryAvailableBytes()
    {
        var own = Path.Combine(sensorOptions.SysfsRoot, "proc", "meminfo");
        return MemAvailable(File.Exists(own) ? own : "/proc/meminfo");
    }

    public long ProcessWorkingSetBytes()
    {
        using var self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }

    public long? DiskFreeBytes()
    {
        try
        {
            return new DriveInfo(Path.GetFullPath(agent.Value.DataDir)).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static long? MemAvailable(string path)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : null;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return null;
    }
}
