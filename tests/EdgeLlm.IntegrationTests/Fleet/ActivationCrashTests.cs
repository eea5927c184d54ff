using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests.Fleet;

/// <summary>
/// kill -9 of the real agent at each step of an activation (its update state script kills it as the step begins), then
/// a restart: the device answers with a complete model, the old one, and can still take the update afterwards.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ActivationCrashTests
{
    [Theory]
    [InlineData("verifying")]
    [InlineData("unpacking")]
    [InlineData("loading")]
    [InlineData("smoke_test")]
    [InlineData("active")]
    public async Task A_kill_at_each_activation_step_leaves_a_working_model(string step)
    {
        using var dir = TestPaths.NewTempDir();
        using var publisher = new TestPublisher(dir.Path);
        var baseBundle = await publisher.ModelBundleAsync("tiny", "1.0.0");
        var update = await publisher.ModelBundleAsync("tiny", "2.0.0");
        var stick = Path.Combine(dir.Path, "usb");
        Directory.CreateDirectory(stick);
        var script = Path.Combine(dir.Path, "on-update-state");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\n[ \"$1\" = \"{step}\" ] && kill -9 $PPID\nexit 0\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Probation after the switch: a crash during it is the new model's fault until proven otherwise.
        await using var device = new UpdateDevice(dir.Path, "crash-" + step, publisher.PublicKeyPath,
            new() { ["ImportFolder"] = stick, ["StateScript"] = script, ["ProbationAnswers"] = 3 });
        await device.ImportAsync(baseBundle);
        await device.StartAsync();

        File.Copy(update, Path.Combine(stick, "tiny-2.0.0.edgebundle"));
        var exit = await device.WaitForDeathAsync();
        Assert.NotEqual(0, exit);

        File.Delete(Path.Combine(stick, "tiny-2.0.0.edgebundle"));
        device.SetUpdates("StateScript", null);
        await device.StartAsync();
        Assert.Equal(("tiny", "1.0.0"), await device.ActiveSlotAsync());
        Assert.Equal("1.0.0", (await device.AskAsync()).Model.Version);
        Assert.False(Directory.Exists(Path.Combine(device.DataDir, "models", "tiny", "2.0.0")), "the half-activated slot is still there");
        var staging = Path.Combine(device.DataDir, "staging");
        Assert.True(!Directory.Exists(staging) || !Directory.EnumerateFileSystemEntries(staging).Any(), "staging is not empty");

        // The device takes the same update once it is offered again.
        File.Copy(update, Path.Combine(stick, "tiny-2.0.0.edgebundle"));
        await FleetAdmin.UntilAsync(device.ActiveSlotAsync, s => s == ("tiny", "2.0.0"), "the update after the crash");
        Assert.Equal("2.0.0", (await device.AskAsync("after")).Model.Version);
    }
}
