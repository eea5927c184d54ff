using System.Text;
using System.Text.Json;
using EdgeLlm.Agent.Models;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Runtime.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet.Formatter;

namespace EdgeLlm.IntegrationTests;

/// <summary>The agent end to end over its embedded broker, on a tiny synthesized model.</summary>
public sealed class EmbeddedBrokerTests
{
    [Fact]
    public async Task Ask_streams_ordered_chunks_then_one_answer_with_usage_and_model()
    {
        await using var agent = await AgentFixture.StartAsync();
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        var correlation = Encoding.UTF8.GetBytes("corr-1");
        await client.PublishAskAsync("""{"id":"q1","question":"What is the maximum pressure?","max_tokens":24,"temperature":0}""", correlation: correlation);

        var replies = new List<ReplyMessage>();
        while (true)
        {
            var m = await client.NextAsync();
            Assert.Equal(correlation, m.CorrelationData);
            var r = TestClient.Parse(m);
            replies.Add(r);
            if (r is not ChunkMessage)
            {
                break;
            }
        }

        var chunks = replies.OfType<ChunkMessage>().ToList();
        var answer = Assert.IsType<AnswerMessage>(replies[^1]);
        Assert.NotEmpty(chunks);
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Seq));
        Assert.All(replies, r => Assert.Equal("q1", r.Id));
        Assert.Equal(string.Concat(chunks.Select(c => c.Text)), answer.Text);
        Assert.Equal("synthesized", answer.Model.Version);
        Assert.True(answer.Model.Synthesized);
        Assert.Equal("tiny-qwen2", answer.Model.Id);
        Assert.InRange(answer.Usage.CompletionTokens, 1, 24);
        Assert.True(answer.Usage.PromptTokens > 0);
        Assert.True(answer.Usage.TtftMs > 0);
        Assert.True(answer.Usage.TotalMs >= answer.Usage.TtftMs);
        Assert.Contains(answer.FinishReason, new[] { "stop", "length" });
    }

    [Fact]
    public async Task Reply_payloads_use_the_wire_field_names()
    {
        await using var agent = await AgentFixture.StartAsync();
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.AskAsync("w1", "Hello?", maxTokens: 4, stream: true);

        var messages = new List<JsonElement>();
        while (true)
        {
            var m = await client.NextAsync();
            var doc = JsonDocument.Parse(m.Payload).RootElement.Clone();
            messages.Add(doc);
            if (doc.GetProperty("type").GetString() != "chunk")
            {
                break;
            }
        }

        Assert.Equal(["type", "id", "seq", "text"], messages[0].EnumerateObject().Select(p => p.Name));
        var answer = messages[^1];
        Assert.Equal(["type", "id", "text", "citations", "sensors", "usage", "model", "finish_reason"], answer.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["prompt_tokens", "completion_tokens", "ttft_ms", "tokens_per_s", "total_ms"], answer.GetProperty("usage").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["id", "version", "synthesized"], answer.GetProperty("model").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Mqtt311_client_gets_replies_on_reply_to_with_its_correlation_id()
    {
        await using var agent = await AgentFixture.StartAsync();
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId, MqttProtocolVersion.V311);
        await client.SubscribeRepliesAsync();
        await client.PublishAskAsync($$"""{"id":"old1","question":"Status?","max_tokens":6,"reply_to":"{{client.ReplyTopic}}","correlation_id":"c-42"}""", responseTopic: false);

        var replies = await client.RepliesUntilFinalAsync("old1");
        Assert.IsType<AnswerMessage>(replies[^1]);
        Assert.All(replies, r => Assert.Equal("c-42", r.CorrelationId));
    }

    [Fact]
    public async Task No_stream_sends_only_the_answer()
    {
        await using var agent = await AgentFixture.StartAsync();
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.AskAsync("ns", "Hi", maxTokens: 6, stream: false);

        var replies = await client.RepliesUntilFinalAsync("ns");
        var answer = Assert.IsType<AnswerMessage>(Assert.Single(replies));
        Assert.NotEmpty(answer.Text);
    }

    public static TheoryData<string, string, string> BadAsks => new()
    {
        { "not json", "{\"question\": ", ErrorCodes.InvalidRequest },
        { "array", "[1,2]", ErrorCodes.InvalidRequest },
        { "missing question", "{\"id\":\"b\"}", ErrorCodes.InvalidRequest },
        { "blank question", "{\"question\":\"   \"}", ErrorCodes.InvalidRequest },
        { "question of wrong type", "{\"question\":42}", ErrorCodes.InvalidRequest },
        { "max_tokens of wrong type", "{\"question\":\"q\",\"max_tokens\":\"many\"}", ErrorCodes.InvalidRequest },
        { "stream of wrong type", "{\"question\":\"q\",\"stream\":\"yes\"}", ErrorCodes.InvalidRequest },
        { "history of wrong type", "{\"question\":\"q\",\"history\":{\"role\":\"user\"}}", ErrorCodes.InvalidRequest },
        { "history turn without role", "{\"question\":\"q\",\"history\":[{\"content\":\"x\"}]}", ErrorCodes.InvalidRequest },
        { "unknown mode", "{\"question\":\"q\",\"mode\":\"telepathy\"}", ErrorCodes.InvalidRequest },
        { "zero max_tokens", "{\"question\":\"q\",\"max_tokens\":0}", ErrorCodes.InvalidRequest },
        { "temperature out of range", "{\"question\":\"q\",\"temperature\":9}", ErrorCodes.InvalidRequest },
        { "question longer than the context", "{\"question\":\"" + string.Concat(Enumerable.Repeat("pressure valve ", 600)) + "\"}", ErrorCodes.TooLong },
        { "oversized payload", "{\"question\":\"" + new string('x', 20_000) + "\"}", ErrorCodes.InvalidRequest },
    };

    [Theory]
    [MemberData(nameof(BadAsks))]
    public async Task Bad_ask_gets_its_error_and_the_next_question_is_answered(string name, string payload, string code)
    {
        Assert.NotNull(name);
        await using var agent = await AgentFixture.StartAsync(new() { ["Agent:MaxPayloadBytes"] = "16384" });
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.PublishAskAsync(payload);

        var error = Assert.IsType<ErrorMessage>(await client.NextReplyAsync());
        Assert.Equal(code, error.Code);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));

        await client.AskAsync("after", "And now?", maxTokens: 4);
        Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("after"))[^1]);
    }

    [Fact]
    public async Task Ask_without_any_reply_address_is_dropped_and_the_agent_keeps_serving()
    {
        await using var agent = await AgentFixture.StartAsync();
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.PublishAskAsync("""{"id":"lost","question":"nobody hears this"}""", responseTopic: false);
        await client.PublishAskAsync(Encoding.UTF8.GetBytes("\u0000\u00ff garbage"), responseTopic: false);
        await client.AskAsync("heard", "Are you there?", maxTokens: 4);

        var replies = await client.RepliesUntilFinalAsync("heard");
        Assert.All(replies, r => Assert.Equal("heard", r.Id));
    }

    [Fact]
    public async Task Cancel_of_a_waiting_request_ends_it_with_cancelled_and_the_agent_keeps_serving()
    {
        await using var agent = await AgentFixture.StartAsync();
        var scheduler = agent.Get<ActiveModel>().Model!.Scheduler;
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
        await client.StatusAsync(s => s.State == AgentStates.Ready);

        // Hold the model so the ask waits in the scheduler's queue, where the status shows it.
        using (await scheduler.EnterAsync(RequestPriority.Operator))
        {
            await client.AskAsync("c1", "A long answer please", maxTokens: 64);
            await client.StatusAsync(s => s.QueueDepth == 1);
            await client.CancelAsync("c1");
            var error = Assert.IsType<ErrorMessage>(Assert.Single(await client.RepliesUntilFinalAsync("c1")));
            Assert.Equal(ErrorCodes.Cancelled, error.Code);
        }

        await client.AskAsync("c2", "Next", maxTokens: 4);
        Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("c2"))[^1]);
    }

    [Fact]
    public async Task Burst_beyond_the_queue_gets_busy_and_every_accepted_ask_exactly_one_answer()
    {
        await using var agent = await AgentFixture.StartAsync(new() { ["Agent:QueueCapacity"] = "3" });
        var scheduler = agent.Get<ActiveModel>().Model!.Scheduler;
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        const int burst = 10;
        var finals = new Dictionary<string, ReplyMessage>();
        var chunksAfterFinal = 0;
        using (await scheduler.EnterAsync(RequestPriority.Operator))
        {
            for (var i = 0; i < burst; i++)
            {
                await client.AskAsync($"b{i}", $"Question {i}", maxTokens: 6);
            }

            // With the model held, three asks wait and the other seven are refused at once.
            while (finals.Count < burst - 3)
            {
                var r = await client.NextReplyAsync();
                Assert.True(finals.TryAdd(r.Id, r), $"second final reply for {r.Id}");
            }
        }

        while (finals.Count < burst)
        {
            var r = await client.NextReplyAsync();
            if (r is ChunkMessage)
            {
                chunksAfterFinal += finals.ContainsKey(r.Id) ? 1 : 0;
                continue;
            }

            Assert.True(finals.TryAdd(r.Id, r), $"second final reply for {r.Id}");
        }

        Assert.Equal(0, chunksAfterFinal);
        Assert.Equal(burst - 3, finals.Values.OfType<ErrorMessage>().Count(e => e.Code == ErrorCodes.Busy));
        Assert.Equal(3, finals.Values.OfType<AnswerMessage>().Count());
        Assert.Equal(Enumerable.Range(0, burst).Select(i => $"b{i}").Order(), finals.Keys.Order());

        // Nothing further arrives for any of them: one more ask's replies are the next messages.
        await client.AskAsync("tail", "Last", maxTokens: 4);
        Assert.All(await client.RepliesUntilFinalAsync("tail"), r => Assert.Equal("tail", r.Id));
    }

    [Fact]
    public async Task Operator_questions_are_answered_before_automation_ones()
    {
        await using var agent = await AgentFixture.StartAsync();
        var scheduler = agent.Get<ActiveModel>().Model!.Scheduler;
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
        using (await scheduler.EnterAsync(RequestPriority.Operator))
        {
            await client.PublishAskAsync(Encoding.UTF8.GetBytes("""{"id":"auto1","question":"Scheduled check","max_tokens":4}"""), priority: "automation");
            await client.StatusAsync(s => s.QueueDepth == 1);
            await client.AskAsync("op1", "Operator question", maxTokens: 4);
            await client.StatusAsync(s => s.QueueDepth == 2);

            // The status also counts asks still on their way to the scheduler (retrieval, prompt building): priority
            // decides only among those waiting for the model, so wait until both are.
            await Fleet.FleetAdmin.UntilAsync(() => Task.FromResult(scheduler.QueueDepth), depth => depth == 2, "both asks waiting at the scheduler");
        }

        var order = new List<string>();
        while (order.Count < 2)
        {
            var r = await client.NextReplyAsync();
            if (r is AnswerMessage)
            {
                order.Add(r.Id);
            }
        }

        Assert.Equal(["op1", "auto1"], order);
    }

    [Fact]
    public async Task Duplicate_running_id_is_refused()
    {
        await using var agent = await AgentFixture.StartAsync();
        var scheduler = agent.Get<ActiveModel>().Model!.Scheduler;
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        using (await scheduler.EnterAsync(RequestPriority.Operator))
        {
            await client.AskAsync("dup", "first", maxTokens: 4);
            await client.AskAsync("dup", "second", maxTokens: 4);
            var refused = Assert.IsType<ErrorMessage>(await client.NextReplyAsync());
            Assert.Equal(ErrorCodes.InvalidRequest, refused.Code);
        }

        Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("dup"))[^1]);
    }

    [Fact]
    public async Task Request_timeout_ends_with_timeout()
    {
        await using var agent = await AgentFixture.StartAsync(new() { ["Agent:RequestTimeoutSeconds"] = "1" });
        var scheduler = agent.Get<ActiveModel>().Model!.Scheduler;
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        using (await scheduler.EnterAsync(RequestPriority.Operator))
        {
            await client.AskAsync("slow", "waits longer than its limit", maxTokens: 4);
            var error = Assert.IsType<ErrorMessage>(await client.NextReplyAsync());
            Assert.Equal(ErrorCodes.Timeout, error.Code);
        }
    }

    [Fact]
    public async Task Context_sources_add_passages_and_citations_to_the_answer()
    {
        var source = new ManualStub();
        await using var agent = await AgentFixture.StartAsync(services: s => s.AddSingleton<IContextSource>(source));
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.AskAsync("m1", "What is the pressure limit?", maxTokens: 4);
        var withContext = Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("m1"))[^1]);
        await client.PublishAskAsync("""{"id":"m2","question":"What is the pressure limit?","mode":"chat","max_tokens":4}""");
        var chat = Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("m2"))[^1]);

        Assert.Equal("pump-manual.md", Assert.Single(withContext.Citations).Source);
        Assert.Equal("p1", Assert.Single(withContext.Sensors).Id);
        Assert.True(withContext.Usage.PromptTokens > chat.Usage.PromptTokens);
        Assert.Empty(chat.Citations);
        Assert.Equal(["What is the pressure limit?"], source.Questions);
    }

    [Fact]
    public async Task Without_a_model_the_agent_is_retrieval_only_and_answers_model_unavailable()
    {
        await using var agent = await AgentFixture.StartAsync(model: "none");
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeAsync(MqttTopics.Status(agent.DeviceId));
        var status = await client.StatusAsync(_ => true);
        Assert.Equal(AgentStates.RetrievalOnly, status.State);
        Assert.Null(status.Model);

        await client.SubscribeRepliesAsync();
        // The manuals answer other modes without a model; plain chat has nothing to answer from.
        await client.PublishAskAsync("""{"id":"r1","question":"Anything?","mode":"chat"}""");
        var error = Assert.IsType<ErrorMessage>(await client.NextReplyAsync());
        Assert.Equal(ErrorCodes.ModelUnavailable, error.Code);
    }

    [Fact]
    public async Task Without_a_model_a_retrieval_answerer_answers_from_the_context()
    {
        await using var agent = await AgentFixture.StartAsync(model: "none", services: s =>
        {
            s.AddSingleton<IContextSource>(new ManualStub());
            s.AddSingleton<IRetrievalAnswerer>(new PassageAnswerer());
        });
        await using var client = await TestClient.ConnectAsync(agent.Port, agent.DeviceId);
        await client.SubscribeRepliesAsync();
        await client.AskAsync("r2", "What is the pressure limit?");
        var answer = Assert.IsType<AnswerMessage>((await client.RepliesUntilFinalAsync("r2"))[^1]);
        Assert.Equal("retrieval", answer.FinishReason);
        Assert.Equal("none", answer.Model.Id);
        Assert.Contains("6 bar", answer.Text, StringComparison.Ordinal);
        Assert.Single(answer.Citations);
    }

    [Fact]
    public async Task Status_is_retained_and_says_offline_after_stop()
    {
        var agent = await AgentFixture.StartAsync();
        var port = agent.Port;
        var device = agent.DeviceId;
        await using (var client = await TestClient.ConnectAsync(port, device))
        {
            await client.SubscribeAsync(MqttTopics.Status(device));
            var status = await client.StatusAsync(_ => true);
            Assert.Equal(AgentStates.Ready, status.State);
            Assert.Equal("tiny-qwen2", status.Model!.Id);
            Assert.Equal("CPUExecutionProvider", status.Provider);
        }

        await agent.DisposeAsync();
    }

    private sealed class ManualStub : IContextSource
    {
        public List<string> Questions { get; } = [];

        public Task<ContextContribution> GetAsync(QueryContext query, CancellationToken cancellationToken)
        {
            lock (Questions)
            {
                Questions.Add(query.Question);
            }

            return Task.FromResult(new ContextContribution(
                ["[1] pump-manual.md, section 4.2: The maximum operating pressure of the pump is 6 bar. Above 6 bar the relief valve opens."],
                [new Citation { Source = "pump-manual.md", Location = "4.2" }],
                [new SensorUse { Id = "p1", Value = 4.2, Unit = "bar" }]));
        }
    }

    private sealed class PassageAnswerer : IRetrievalAnswerer
    {
        public Task<string?> AnswerAsync(QueryContext query, ContextContribution context, CancellationToken cancellationToken) =>
            Task.FromResult(context.Passages.Count == 0 ? null : string.Join("\n", context.Passages));
    }
}
