using EdgeLlm.Sensors.Catalog;
using EdgeLlm.Sensors.Gpio;
using EdgeLlm.Sensors.Sysfs;

namespace EdgeLlm.Sensors.Ingestion;

/// <summary>The catalog and the sensors the device reads itself, as the service and the CLI both build them.</summary>
internal sealed class LiveSensors : IDisposable
{
    private SystemGpioInputs? _ownedGpio;

    private LiveSensors(SensorCatalog catalog, Dictionary<string, IPolledSensor> polled, IReadOnlyList<string> unmatched, int discovered)
    {
        Catalog = catalog;
        Polled = polled;
        UnmatchedSettings = unmatched;
        Discovered = discovered;
    }

    public SensorCatalog Catalog { get; }

    /// <summary>Sysfs channels and GPIO lines by sensor id.</summary>
    public Dictionary<string, IPolledSensor> Polled { get; }

    /// <summary>Ids in <c>Sensors:Sensors</c> that name no known sensor.</summary>
    public IReadOnlyList<string> UnmatchedSettings { get; }

    /// <summary>How many sensors sysfs discovery found.</summary>
    public int Discovered { get; }

    /// <param name="options">The Sensors section.</param>
    /// <param name="gpio">GPIO access; null = System.Device.Gpio (opened only when GPIO sensors are configured, and owned).</param>
    public static LiveSensors Build(SensorOptions options, IGpioInputs? gpio)
    {
        var owned = gpio is null && options.Gpio.Count > 0 ? new SystemGpioInputs() : null;
        gpio ??= owned;
        var discovered = options.Discover ? SysfsDiscovery.Discover(options.SysfsRoot) : [];
        var catalog = SensorCatalog.Build(options, discovered, out var unmatched);
        var polled = discovered.ToDictionary(c => c.Id, c => (IPolledSensor)c, StringComparer.Ordinal);
        foreach (var g in options.Gpio)
        {
            polled[g.Id] = new GpioInput(g, gpio!);
        }

        return new LiveSensors(catalog, polled, unmatched, discovered.Count) { _ownedGpio = owned };
    }

    public void Dispose()
    {
        foreach (var p in Polled.Values.OfType<IDisposable>())
        {
            p.Dispose();
        }

        _ownedGpio?.Dispose();
        _ownedGpio = null;
    }
}
