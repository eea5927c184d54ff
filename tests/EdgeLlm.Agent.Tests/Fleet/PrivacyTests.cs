using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Storage;

namespace EdgeLlm.Agent.Tests.Fleet;

public sealed class PrivacyTests
{
    private const string Secret = "TOP-SECRET-7f3a9c";

    private static QueryLogEntry Asked(DateTimeOffset at, string question, string answer, string outcome = "stop") =>
        new(at, "r1", "auto", question, answer, outcome, 10, 5, 42.0);

    private static async Task SampleAndUploadAsync(FleetKit kit)
    {
        kit.Sampler.Step();
        for (var i = 0; i < 5 && kit.Outbox.Count > 0; i++)
        {
            await kit.Uploader.StepAsync(CancellationToken.None);
        }

        Assert.Equal(0, kit.Outbox.Count);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Unless_both_the_device_and_the_fleet_allow_it_no_question_or_answer_is_stored_or_sent(bool local, bool fleet)
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit(new FleetOptions { QueryLogUpload = local });
        kit.Policy.FleetAllows = fleet;
        kit.Enroll(server.BaseUri);
        kit.Requests.Completed(Asked(kit.Time.GetUtcNow(), $"What is {Secret}?", $"It is {Secret}."), false, 12.5);
        kit.Requests.Completed(Asked(kit.Time.GetUtcNow(), $"Fail {Secret}", "", "timeout"), true, 0);
        Assert.DoesNotContain(Secret, kit.EverythingStored(), StringComparison.Ordinal);
        await SampleAndUploadAsync(kit);

        Assert.NotEmpty(server.Requests);
        Assert.Contains("request_error", server.AllBodies, StringComparison.Ordinal);
        Assert.Contains("latency_p50_ms", server.AllBodies, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, server.AllBodies, StringComparison.Ordinal);
        Assert.DoesNotContain("\"query\"", server.AllBodies, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_the_policy_on_query_log_entries_are_uploaded_redacted()
    {
        using var server = new FakeFleetServer();
        using var kit = new FleetKit(new FleetOptions { QueryLogUpload = true, SerialPatterns = [@"\bSN-\d{6}\b"] });
        kit.Policy.FleetAllows = true;
        kit.Enroll(server.BaseUri);
        kit.Requests.Completed(Asked(kit.Time.GetUtcNow(), "Unit SN-123456 at 10.1.2.3: mail ops@plant.example or +49 30 1234567", "Ask ops@plant.example."), false, 12.5);
        await SampleAndUploadAsync(kit);

        var bodies = server.AllBodies;
        Assert.Contains("\"kind\":\"query\"", bodies, StringComparison.Ordinal);
        Assert.Contains("Unit [serial] at [ip]: mail [email] or [phone]", bodies, StringComparison.Ordinal);
        Assert.Contains("Ask [email].", bodies, StringComparison.Ordinal);
        foreach (var leak in new[] { "SN-123456", "10.1.2.3", "ops@plant.example", "1234567" })
        {
            Assert.DoesNotContain(leak, bodies, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Without_the_local_query_log_nothing_is_uploaded_even_when_both_allow_it()
    {
        using var kit = new FleetKit(new FleetOptions { QueryLogUpload = true }, new AgentOptions { QueryLog = false });
        kit.Policy.FleetAllows = true;
        kit.Requests.Completed(Asked(kit.Time.GetUtcNow(), Secret, Secret), false, 1);
        Assert.False(kit.Policy.Allowed);
        Assert.DoesNotContain(Secret, kit.EverythingStored(), StringComparison.Ordinal);
    }
}
