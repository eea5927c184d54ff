using EdgeLlm.Agent.Updates;

namespace EdgeLlm.Agent.Tests.Updates;

public sealed class DownloadWindowTests
{
    private static readonly DateTimeOffset Day = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("02:00-05:00Z", "01:00", 60)]
    [InlineData("02:00-05:00Z", "02:00", 0)]
    [InlineData("02:00-05:00Z", "04:59", 0)]
    [InlineData("02:00-05:00Z", "05:00", 21 * 60)]
    [InlineData("22:30-04:00 UTC", "23:00", 0)]
    [InlineData("22:30-04:00 UTC", "03:59", 0)]
    [InlineData("22:30-04:00 UTC", "04:00", 18 * 60 + 30)]
    public void UntilOpen_InUtc(string window, string now, int minutes)
    {
        var at = Day + TimeSpan.Parse(now, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TimeSpan.FromMinutes(minutes), DownloadWindow.From(window).UntilOpen(at, TimeZoneInfo.Utc));
    }

    [Fact]
    public void UntilOpen_WithoutSuffix_UsesTheLocalTimeZone()
    {
        var plusTwo = TimeZoneInfo.CreateCustomTimeZone("test+2", TimeSpan.FromHours(2), "test+2", "test+2");
        var window = DownloadWindow.From("02:00-05:00");

        Assert.Equal(TimeSpan.Zero, window.UntilOpen(Day.AddHours(1), plusTwo));
        Assert.Equal(TimeSpan.FromHours(21), window.UntilOpen(Day.AddHours(3), plusTwo));
    }

    [Fact]
    public void Unset_IsAlwaysOpen()
    {
        Assert.Same(DownloadWindow.Always, DownloadWindow.From(null));
        Assert.Equal(TimeSpan.Zero, DownloadWindow.From(" ").UntilOpen(Day.AddHours(13), TimeZoneInfo.Utc));
    }

    [Theory]
    [InlineData("2-5")]
    [InlineData("02:00")]
    [InlineData("02:00-25:00")]
    [InlineData("02:00-05:00-06:00")]
    [InlineData("03:00-03:00")]
    public void Options_WithABadWindow_FailValidation_NamingTheSetting(string window)
    {
        var result = new UpdateOptionsRules().Validate(null, new UpdateOptions { MaintenanceWindow = window });

        Assert.True(result.Failed);
        Assert.Contains("Updates:MaintenanceWindow", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_Defaults_AreValid()
    {
        Assert.True(new UpdateOptionsRules().Validate(null, new UpdateOptions()).Succeeded);
        Assert.True(new UpdateOptionsValidator().Validate(null, new UpdateOptions()).Succeeded);
        Assert.True(new UpdateOptionsRules().Validate(null, new UpdateOptions { RetryMinMs = 5, RetryMaxMs = 1 }).Failed);
    }
}
