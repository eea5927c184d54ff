using System.Device.Gpio;

namespace EdgeLlm.Sensors.Gpio;

/// <summary><see cref="IGpioInputs"/> on a real GPIO chip through System.Device.Gpio.</summary>
internal sealed class SystemGpioInputs : IGpioInputs
{
    private readonly Lazy<GpioController> _controller = new(() => new GpioController());

    public void OpenInput(int pin, GpioPull pull)
    {
        var mode = pull switch
        {
            GpioPull.Up => PinMode.InputPullUp,
            GpioPull.Down => PinMode.InputPullDown,
            _ => PinMode.Input,
        };
        if (!_controller.Value.IsPinOpen(pin))
        {
            _controller.Value.OpenPin(pin, mode);
        }
    }

    public bool Read(int pin) => _controller.Value.Read(pin) == PinValue.High;

    public IDisposable WatchEdges(int pin, bool rising, bool falling, Action onEdge)
    {
        var events = (rising ? PinEventTypes.Rising : PinEventTypes.None) | (falling ? PinEventTypes.Falling : PinEventTypes.None);
        void Handler(object sender, PinValueChangedEventArgs args) => onEdge();
        _controller.Value.RegisterCallbackForPinValueChangedEvent(pin, events, Handler);
        return new Registration(() => _controller.Value.UnregisterCallbackForPinValueChangedEvent(pin, Handler));
    }

    public void Dispose()
    {
        if (_controller.IsValueCreated)
        {
            _controller.Value.Dispose();
        }
    }

    private sealed class Registration(Action undo) : IDisposable
    {
        private Action? _undo = undo;

        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
