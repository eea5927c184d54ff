using EdgeLlm.Runtime.Chat;
using EdgeLlm.Runtime.ChatTemplates;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Scheduling;
using EdgeLlm.Runtime.Tests.Generation;
using Microsoft.Extensions.AI;

namespace EdgeLlm.Runtime.Tests.Chat;

[Collection(TinyModels.Name)]
public sealed class TextGenerationTests(TinyModelFixture models)
{
    private static readonly GenerationOptions Greedy = new() { DoSample = false, MaxNewTokens = 24, StopTokenIds = [] };

    private LocalModel Load(SchedulerOptions? scheduler = null) =>
        LocalModel.Load(models.Folder("int4"), TinyModelFixture.OneThread, scheduler);

    [Fact]
    public async Task Stream_TextEqualsDecodeOfIds_AndUpdatesJoinToTheText()
    {
        using var model = Load();
        var streamed = "";
        TextCompletion? done = null;
        await foreach (var u in model.StreamAsync(new TextRequest { PromptIds = model.EncodeRaw("Check the belt"), Options = Greedy }))
        {
            streamed += u.Text;
            done = u.Completion ?? done;
        }

        Assert.NotNull(done);
        Assert.Equal(24, done.CompletionTokens);
        Assert.Equal(FinishReason.Length, done.FinishReason);
        Assert.Equal(streamed, done.Text);
        Assert.Equal(model.Tokenizer.Decode(done.Ids.ToArray(), skipSpecialTokens: true), done.Text);
    }

    [Fact]
    public async Task StopString_EndsGenerationBeforeIt()
    {
        using var model = Load();
        var prompt = model.EncodeRaw("Check the belt");
        var full = await model.CompleteAsync(new TextRequest { PromptIds = prompt, Options = Greedy });
        Assert.True(full.Text.Length > 8, $"need some text to cut: '{full.Text}'");
        var stop = full.Text.Substring(full.Text.Length / 2, 3);
        var expected = full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)];

        var cut = await model.CompleteAsync(new TextRequest { PromptIds = prompt, Options = Greedy, StopStrings = [stop] });

        Assert.Equal(expected, cut.Text);
        Assert.Equal(FinishReason.Stop, cut.FinishReason);
        Assert.True(cut.CompletionTokens < full.CompletionTokens);
    }

    [Fact]
    public async Task Cancel_MidStream_EndsWithCancelled()
    {
        using var model = Load();
        using var cts = new CancellationTokenSource();
        var tokensAfterCancel = 0;
        TextCompletion? done = null;
        var options = Greedy with { MaxNewTokens = 200 };
        await foreach (var u in model.StreamAsync(new TextRequest { PromptIds = model.EncodeRaw("Hello"), Options = options }, cancellationToken: cts.Token))
        {
            if (u.Completion is not null)
            {
                done = u.Completion;
                break;
            }

            if (cts.IsCancellationRequested)
            {
                tokensAfterCancel++;
            }
            else
            {
                await cts.CancelAsync();
            }
        }

        Assert.NotNull(done);
        Assert.Equal(FinishReason.Cancelled, done.FinishReason);
        Assert.True(done.CompletionTokens < 200);
        Assert.True(tokensAfterCancel <= 1, $"{tokensAfterCancel} updates after cancel");
    }

    [Fact]
    public async Task FullQueue_SecondRequestIsBusyAtOnce()
    {
        using var model = Load(new SchedulerOptions { MaxConcurrency = 1, QueueCapacity = 0 });
        var request = new TextRequest { PromptIds = model.EncodeRaw("Hello"), Options = Greedy with { MaxNewTokens = 50 } };
        await using var first = model.StreamAsync(request).GetAsyncEnumerator();
        Assert.True(await first.MoveNextAsync());

        await using var second = model.StreamAsync(request).GetAsyncEnumerator();
        await Assert.ThrowsAsync<SchedulerBusyException>(async () => await second.MoveNextAsync());
    }

    [Fact]
    public void EncodeChat_IsTemplateThenEncodeWithoutSpecialTokens()
    {
        using var model = Load();
        var turns = new[] { new ChatTurn("system", "Be brief."), new ChatTurn("user", "Belt?") };
        var expected = model.Tokenizer.Encode(model.Template!.Render(turns, addGenerationPrompt: true), addSpecialTokens: false);
        Assert.Equal(expected, model.EncodeChat(turns));
        Assert.Equal(model.Tokenizer.TokenToId("<|im_start|>"), model.EncodeChat(turns)[0]);
    }

    [Fact]
    public async Task ChatClient_ResponseAndStreamAgree()
    {
        using var model = Load();
        using IChatClient client = new EdgeChatClient(model);
        var messages = new[] { new ChatMessage(ChatRole.User, "What is the torque?") };
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16 };

        var response = await client.GetResponseAsync(messages, options);
        var streamed = string.Concat(await client.GetStreamingResponseAsync(messages, options).Select(u => u.Text).ToArrayAsync());

        Assert.Equal(response.Text, streamed);
        Assert.Equal(model.Id, response.ModelId);
        Assert.True(response.Usage!.OutputTokenCount is > 0 and <= 16);
        Assert.Same(model, client.GetService(typeof(LocalModel)));
    }
}
