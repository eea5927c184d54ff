using System.Runtime.CompilerServices;
using EdgeLlm.Runtime.ChatTemplates;
using EdgeLlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace EdgeLlm.Runtime.Chat;

/// <summary>
/// The runtime as a Microsoft.Extensions.AI <see cref="IChatClient"/>, so .NET AI code (middleware, evaluation,
/// agents) can use an on-device model like any other. Text in, text out; tools are not supported.
/// The client does not own the model: disposing it leaves the model loaded.
/// </summary>
internal sealed class EdgeChatClient(LocalModel model) : IChatClient
{
    private readonly ChatClientMetadata _metadata = new("edgellm", null, model.Id);

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var done = await model.CompleteAsync(Request(messages, options), cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, done.Text))
        {
            ModelId = model.Id,
            FinishReason = Finish(done.FinishReason),
            Usage = new UsageDetails
            {
                InputTokenCount = done.PromptTokens,
                OutputTokenCount = done.CompletionTokens,
                TotalTokenCount = done.PromptTokens + done.CompletionTokens,
            },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var responseId = Guid.NewGuid().ToString("N");
        await foreach (var update in model.StreamAsync(Request(messages, options), cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (update.Text.Length > 0)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, update.Text) { ModelId = model.Id, ResponseId = responseId };
            }

            if (update.Completion is { } done)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, (string?)null)
                {
                    ModelId = model.Id,
                    ResponseId = responseId,
                    FinishReason = Finish(done.FinishReason),
                    Contents = [new UsageContent(new UsageDetails { InputTokenCount = done.PromptTokens, OutputTokenCount = done.CompletionTokens })],
                };
            }
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : serviceType.IsInstanceOfType(model) ? model
            : null;
    }

    public void Dispose()
    {
        // The model belongs to whoever loaded it.
    }

    private TextRequest Request(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<ChatTurn>();
        if (!string.IsNullOrEmpty(options?.Instructions))
        {
            turns.Add(new ChatTurn("system", options.Instructions));
        }

        foreach (var m in messages)
        {
            turns.Add(new ChatTurn(m.Role.Value, m.Text));
        }

        var sampling = options?.Temperature is > 0 || options?.TopK is > 0 || options?.TopP is < 1 || options?.Seed is not null;
        return new TextRequest
        {
            PromptIds = model.EncodeChat(turns),
            StopStrings = options?.StopSequences?.ToArray() ?? [],
            Options = new GenerationOptions
            {
                MaxNewTokens = options?.MaxOutputTokens,
                DoSample = options?.Temperature == 0 ? false : sampling ? true : null,
                Temperature = options?.Temperature,
                TopK = options?.TopK,
                TopP = options?.TopP,
                Seed = options?.Seed is { } seed ? unchecked((ulong)seed) : null,
            },
        };
    }

    private static ChatFinishReason? Finish(FinishReason reason) => reason switch
    {
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        _ => null,
    };
}
