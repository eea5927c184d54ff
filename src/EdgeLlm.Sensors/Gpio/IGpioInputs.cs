namespace EdgeLlm.Sensors.Gpio;

/// <summary>
/// The GPIO operations the sensors need, so tests run without a GPIO chip. The device implementation wraps
/// System.Device.Gpio's <c>GpioController</c>.
/// </summary>
public interface IGpioInputs : IDisposable
{
    /// <summary>Opens a line as an input with the given pull resistor.</summary>
    void OpenInput(int pin, GpioPull pull);

    /// <summary>The line's current level: true = high.</summary>
    bool Read(int pin);

    /// <summary>Calls <paramref name="onEdge"/> on every selected edge until the returned handle is disposed.</summary>
    IDisposable WatchEdges(int pin, bool rising, bool falling, Action onEdge);
}
