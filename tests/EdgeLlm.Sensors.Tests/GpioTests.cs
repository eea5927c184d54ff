using EdgeLlm.Sensors.Gpio;

namespace EdgeLlm.Sensors.Tests;

public sealed class GpioTests
{
    [Fact]
    public void LevelInput_ReadsTheLineLevel()
    {
        using var chip = new FakeGpio();
        using var door = new GpioInput(new GpioSensorSettings { Id = "door", Pin = 17, Pull = GpioPull.Up }, chip);
        Assert.True(door.TryRead(out var closed, out _, out _));
        Assert.Equal(0, closed);
        chip.Set(17, true);
        Assert.True(door.TryRead(out var open, out _, out _));
        Assert.Equal(1, open);
    }

    [Fact]
    public void EdgeCountInput_CountsTheSelectedEdgesOnly()
    {
        using var chip = new FakeGpio();
        using var counter = new GpioInput(new GpioSensorSettings { Id = "parts", Pin = 5, Mode = GpioInputMode.EdgeCount }, chip);
        Assert.True(counter.TryRead(out var start, out _, out _));
        for (var i = 0; i < 3; i++)
        {
            chip.Set(5, true);
            chip.Set(5, false);
        }

        Assert.True(counter.TryRead(out var count, out _, out _));
        Assert.Equal((0.0, 3.0), (start, count));
    }

    [Fact]
    public void LineBusyAtFirst_IsReadFailed_ThenJoinsOnALaterRead()
    {
        using var chip = new FakeGpio { FailOpens = 1 };
        using var door = new GpioInput(new GpioSensorSettings { Id = "door", Pin = 4 }, chip);
        Assert.False(door.TryRead(out _, out var reason, out var detail));
        Assert.Equal(RejectReason.ReadFailed, reason);
        Assert.Contains("line 4", detail, StringComparison.Ordinal);
        chip.Set(4, true);
        Assert.True(door.TryRead(out var level, out _, out _));
        Assert.Equal(1, level);
    }
}
