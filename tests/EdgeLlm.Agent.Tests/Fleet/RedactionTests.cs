using EdgeLlm.Agent.Fleet;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Tests.Fleet;

public sealed class RedactionTests
{
    private static readonly Redactor Redactor = new([@"\bSN-[0-9A-Z]{6,}\b", @"\bBL200-\d{5}\b"]);

    [Theory]
    [InlineData("mail anna.berg+ops@plant-7.example.com now", "mail [email] now")]
    [InlineData("CC: j_doe@sub.example.co.uk.", "CC: [email].")]
    [InlineData("call +49 30 1234567 today", "call [phone] today")]
    [InlineData("call +1 (555) 123-4567", "call [phone]")]
    [InlineData("or +44 20 7946 0958.", "or [phone].")]
    [InlineData("dial (555) 123-4567 please", "dial [phone] please")]
    [InlineData("dial 555-123-4567", "dial [phone]")]
    [InlineData("dial 555.123.4567", "dial [phone]")]
    [InlineData("dial 555 123 4567", "dial [phone]")]
    [InlineData("UK 020 7946 0958", "UK [phone]")]
    [InlineData("Berlin 030/1234567", "Berlin [phone]")]
    [InlineData("mobile 0171-1234567", "mobile [phone]")]
    [InlineData("host 192.168.10.254 is down", "host [ip] is down")]
    [InlineData("at 10.0.0.1:8080.", "at [ip]:8080.")]
    [InlineData("v6 2001:db8::8a2e:370:7334 here", "v6 [ip] here")]
    [InlineData("link fe80::1%eth0 up", "link [ip] up")]
    [InlineData("loopback ::1", "loopback [ip]")]
    [InlineData("mapped ::ffff:192.0.2.128 too", "mapped [ip] too")]
    [InlineData("serial SN-AB12345 and BL200-00042", "serial [serial] and [serial]")]
    [InlineData("What does E-17 mean on the BL200?", "What does E-17 mean on the BL200?")]
    [InlineData("torque 3.5 Nm at 12:30:45 on 2026-01-10", "torque 3.5 Nm at 12:30:45 on 2026-01-10")]
    [InlineData("use std::map in C++", "use std::map in C++")]
    [InlineData("version 1.2.3 and 404 errors", "version 1.2.3 and 404 errors")]
    [InlineData("999.1.1.1 is not an address", "999.1.1.1 is not an address")]
    public void Redacts_contacts_addresses_and_serials_and_leaves_other_text(string input, string expected) =>
        Assert.Equal(expected, Redactor.Redact(input));

    [Fact]
    public void Serial_patterns_that_do_not_compile_fail_validation_with_their_key()
    {
        var result = new FleetOptionsRules().Validate(null, new FleetOptions { SerialPatterns = ["SN-\\d+", "([unclosed"], BackoffMinMs = 10, BackoffMaxMs = 5 });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Fleet:SerialPatterns:1:", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Fleet:BackoffMinMs:", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures!, f => f.StartsWith("Fleet:SerialPatterns:0:", StringComparison.Ordinal));
    }

    [Fact]
    public void Batch_size_above_the_servers_limit_fails_validation()
    {
        var result = new FleetOptionsValidator().Validate(null, new FleetOptions { BatchSize = 1001 });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("BatchSize", StringComparison.Ordinal));
        Assert.True(new FleetOptionsValidator().Validate(null, new FleetOptions()).Succeeded);
        Assert.True(new FleetOptionsRules().Validate(null, Options.Create(new FleetOptions()).Value).Succeeded);
    }
}
