using EdgeLlm.Runtime.ChatTemplates;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.ModelFolders;
using EdgeLlm.Runtime.Scheduling;
using EdgeLlm.Runtime.Tokenization;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Runtime.Chat;

/// <summary>
/// A loaded model folder with everything needed to go from text to text: the ONNX session, the tokenizer,
/// the chat template and the scheduler that shares the model between callers. Owned by one place
/// (the CLI command, the agent's container) and disposed once no request uses it.
/// </summary>
internal sealed class LocalModel : IDisposable
{
    private LocalModel(OnnxModel model, HfTokenizer tokenizer, ChatTemplate? template, RequestScheduler scheduler)
    {
        Model = model;
        Tokenizer = tokenizer;
        Template = template;
        Scheduler = scheduler;
        Generator = new Generator(model);
        Synthesized = ModelFolderInfo.IsSynthesized(model.Folder);
        Id = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(model.Folder)));
    }

    /// <summary>The folder's name, used as the model id in answers and status.</summary>
    public string Id { get; }

    public OnnxModel Model { get; }
    public HfTokenizer Tokenizer { get; }

    /// <summary>The chat template, or null when the folder has none (then only raw prompts work).</summary>
    public ChatTemplate? Template { get; }

    public RequestScheduler Scheduler { get; }
    public Generator Generator { get; }

    /// <summary>True when the weights are random (written by <c>edgellm model synth</c>): answers are noise.</summary>
    public bool Synthesized { get; }

    /// <summary>Loads a model folder. Every problem with the folder is a <see cref="ModelFolderException"/>.</summary>
    public static LocalModel Load(string folder, RuntimeOptions? options = null, SchedulerOptions? scheduler = null, ILogger? logger = null)
    {
        // Tokenizer and template first: they are cheap and their errors are the most common ones.
        var tokenizer = HfTokenizer.Load(folder);
        var template = File.Exists(Path.Combine(folder, "tokenizer_config.json")) ? TryLoadTemplate(folder) : null;
        var model = OnnxModel.Load(folder, options, logger);
        try
        {
            if (tokenizer.VocabSize > model.Config.VocabSize)
            {
                throw new ModelFolderException(Path.Combine(folder, "tokenizer.json"), "model.vocab",
                    $"the tokenizer has {tokenizer.VocabSize} tokens but genai_config.json's vocab_size is {model.Config.VocabSize}; tokenizer and model do not belong together");
            }

            return new LocalModel(model, tokenizer, template, new RequestScheduler(scheduler ?? new SchedulerOptions()));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Renders <paramref name="messages"/> with the chat template and tokenizes the result as Hugging Face's
    /// <c>apply_chat_template(tokenize=True)</c> does (the template itself places BOS and other special tokens).</summary>
    public int[] EncodeChat(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt = true)
    {
        var template = Template ?? throw new InvalidOperationException(
            $"model '{Id}' has no chat_template in tokenizer_config.json; send a raw prompt instead");
        return Tokenizer.Encode(template.Render(messages, addGenerationPrompt), addSpecialTokens: false);
    }

    /// <summary>Tokenizes a raw prompt as Hugging Face's <c>encode</c> does by default (with BOS where the tokenizer adds it).</summary>
    public int[] EncodeRaw(string prompt) => Tokenizer.Encode(prompt, addSpecialTokens: true);

    public void Dispose() => Model.Dispose();

    private static ChatTemplate? TryLoadTemplate(string folder)
    {
        try
        {
            return ChatTemplate.Load(folder);
        }
        catch (ModelFolderException ex) when (ex.Field is "chat_template" && ex.Problem.StartsWith("is missing", StringComparison.Ordinal))
        {
            // A base model without a chat template is still usable with raw prompts.
            return null;
        }
    }
}
