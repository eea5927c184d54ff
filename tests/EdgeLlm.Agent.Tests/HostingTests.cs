using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Mqtt;

namespace EdgeLlm.Agent.Tests;

public sealed class HostingTests
{
    [Theory]
    [InlineData("a/b/c", "a/b/c", true)]
    [InlineData("a/+/c", "a/b/c", true)]
    [InlineData("a/#", "a/b/c", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/b", "a/c", false)]
    [InlineData("#", "anything/at/all", true)]
    public void Topic_filters_match_like_mqtt(string filter, string topic, bool matches) =>
        Assert.Equal(matches, TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("test/replies/#", "test/replies/+", true)]
    [InlineData("edgellm/v1/+/status", "edgellm/v1/#", false)]
    [InlineData("a/+", "a/#", false)]
    public void A_permission_covers_a_requested_filter_only_when_it_allows_all_it_matches(string allowed, string requested, bool covers) =>
        Assert.Equal(covers, TopicFilter.Covers(allowed, requested));

    [Fact]
    public void Broker_switch_selects_the_external_broker()
    {
        var s = AgentHost.SwitchSettings(new AgentSwitches { Broker = "mqtts://broker.local:8884", DeviceId = "d1", Model = "none" });
        Assert.Equal("external", s["Broker:Mode"]);
        Assert.Equal("broker.local", s["Broker:Host"]);
        Assert.Equal("8884", s["Broker:Port"]);
        Assert.Equal("true", s["Broker:UseTls"]);
        Assert.Equal("d1", s["Agent:DeviceId"]);
        Assert.Equal("none", s["Agent:Model"]);
    }

    [Theory]
    [InlineData("http://x:1")]
    [InlineData("localhost:1883")]
    [InlineData("mqtt://")]
    public void Bad_broker_switch_names_the_switch(string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => AgentHost.SwitchSettings(new AgentSwitches { Broker = value }));
        Assert.StartsWith("--broker", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Broker_rules_need_a_host_for_external_and_existing_certificate_files()
    {
        var result = new BrokerOptionsRules().Validate(null, new BrokerOptions { Mode = "external", CaFile = "/nonexistent/ca.pem", ReconnectMinMs = 5000, ReconnectMaxMs = 100 });
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith("Broker:Host:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Broker:CaFile:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Broker:ReconnectMinMs:", StringComparison.Ordinal));
    }

    [Fact]
    public void Attribute_validation_reports_the_bad_member()
    {
        var result = new AgentOptionsValidator().Validate(null, new AgentOptions { DeviceId = "a#b", MaxPayloadBytes = 1 });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("DeviceId", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("MaxPayloadBytes", StringComparison.Ordinal));
    }

    [Fact]
    public void Watchdog_period_is_half_of_watchdog_usec_for_this_process_only()
    {
        // Environment variables are process-wide: this is the only test that sets them, and it restores them.
        var usec = Environment.GetEnvironmentVariable("WATCHDOG_USEC");
        var pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        try
        {
            Environment.SetEnvironmentVariable("WATCHDOG_USEC", "3000000");
            Environment.SetEnvironmentVariable("WATCHDOG_PID", null);
            Assert.Equal(TimeSpan.FromSeconds(1.5), SystemdNotifications.WatchdogPeriod());
            Environment.SetEnvironmentVariable("WATCHDOG_PID", "1");
            Assert.Null(SystemdNotifications.WatchdogPeriod());
            Environment.SetEnvironmentVariable("WATCHDOG_PID", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.NotNull(SystemdNotifications.WatchdogPeriod());
        }
        finally
        {
            Environment.SetEnvironmentVariable("WATCHDOG_USEC", usec);
            Environment.SetEnvironmentVariable("WATCHDOG_PID", pid);
        }
    }
}
