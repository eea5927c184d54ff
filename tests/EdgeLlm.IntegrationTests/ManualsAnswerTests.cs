using System.Text.Json;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Knowledge;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests;

/// <summary>Questions over MQTT about the sample manual, ingested into the running agent's knowledge.db.</summary>
public sealed class ManualsAnswerTests
{
    private static async Task IngestSampleAsync(AgentFixture agent)
    {
        // The agent opens knowledge.db on its first question, so ingesting after start is what `make run` does before it.
        using var kb = KnowledgeBase.Open(Path.Combine(agent.DataDir, KnowledgeBase.FileName));
        var results = await kb.IngestAsync([Path.Combine(TestPaths.RepoRoot, "samples", "manuals")]);
        Assert.All(results, r => Assert.NotEqual(IngestStatus.Failed, r.Status));
    }

    private static async Task<AnswerMessage> AskAsync(TestClient client, string id, string question, string mode = AskModes.Auto)
    {
        await client.PublishAskAsync(JsonSerializer.Serialize(new { id, question, mode, max_tokens = 4, stream = true }));
        var final = (await client.RepliesUntilFinalAsync(id)).Last();
        return Assert.IsType<AnswerMessage>(final);
    }

    [Fact]
    public async Task Answer_from_the_model_cites_the_manual_section_and_manuals_mode_says_when_it_is_not_there()
    {
        await using var agent = await AgentFixture.StartAsync();
        await IngestSampleAsync(agent);
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();

        var answer = await AskAsync(client, "e17", "What does E-17 mean?");
        Assert.NotEqual("retrieval", answer.FinishReason);
        var cited = answer.Citations[0];
        Assert.Equal("brightline-bl200.md", cited.Source);
        Assert.Equal("E-17 Cap chute jam", cited.Heading![^1]);

        var none = await AskAsync(client, "none", "Who painted the Mona Lisa?", AskModes.Manuals);
        Assert.Equal("The manuals on this device do not cover this question.", none.Text);
        Assert.Empty(none.Citations);
    }

    [Fact]
    public async Task Retrieval_only_agent_answers_with_the_cited_passages()
    {
        await using var agent = await AgentFixture.StartAsync(model: AgentOptions.NoModel);
        await IngestSampleAsync(agent);
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();

        var answer = await AskAsync(client, "torque", "What torque for 38 mm caps on glass bottles?");
        Assert.Equal("retrieval", answer.FinishReason);
        Assert.StartsWith("Retrieval-only answer", answer.Text, StringComparison.Ordinal);
        Assert.Contains("| 38 mm | Glass, twist-off | 3.5 Nm |", answer.Text, StringComparison.Ordinal);
        Assert.Equal("6. Torque settings", answer.Citations[0].Heading![^1]);
        Assert.Contains("[1] brightline-bl200.md, 6. Torque settings", answer.Text, StringComparison.Ordinal);
    }
}
