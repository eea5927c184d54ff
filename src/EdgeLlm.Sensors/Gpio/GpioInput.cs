using EdgeLlm.Sensors.Ingestion;

namespace EdgeLlm.Sensors.Gpio;

/// <summary>
/// A GPIO line as a sensor: its level (1/0) or the number of edges counted since the line was opened. The line is
/// opened on first use and reopened after a failure, so a line that is busy at start joins later.
/// </summary>
internal sealed class GpioInput : IPolledSensor, IDisposable
{
    private readonly GpioSensorSettings _settings;
    private readonly IGpioInputs _gpio;
    private IDisposable? _watch;
    private bool _open;
    private long _edges;

    public GpioInput(GpioSensorSettings settings, IGpioInputs gpio)
    {
        _settings = settings;
        _gpio = gpio;
    }

    public string Id => _settings.Id;

    public bool TryRead(out double value, out RejectReason reason, out string detail)
    {
        value = 0;
        try
        {
            if (!_open)
            {
                _gpio.OpenInput(_settings.Pin, _settings.Pull);
                if (_settings.Mode == GpioInputMode.EdgeCount)
                {
                    _watch = _gpio.WatchEdges(_settings.Pin, _settings.Rising, _settings.Falling, () => Interlocked.Increment(ref _edges));
                }

                _open = true;
            }

            value = _settings.Mode == GpioInputMode.EdgeCount ? Interlocked.Read(ref _edges) : _gpio.Read(_settings.Pin) ? 1 : 0;
            (reason, detail) = (default, "");
            return true;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException or ArgumentException or PlatformNotSupportedException)
        {
            (reason, detail) = (RejectReason.ReadFailed, $"GPIO line {_settings.Pin}: {ex.Message}");
            return false;
        }
    }

    public void Dispose() => _watch?.Dispose();
}
