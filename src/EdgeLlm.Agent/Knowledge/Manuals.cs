using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Knowledge;
using EdgeLlm.Knowledge.Chunking;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Knowledge;

/// <summary>
/// The device's manuals index (<c>knowledge.db</c> in the data directory), opened once on the first question and
/// shared by every request (the knowledge base serializes its calls).
/// </summary>
internal sealed class Manuals : IDisposable
{
    private readonly Lazy<KnowledgeBase> _kb;
    private readonly ActiveModel _active;

    public Manuals(IOptions<AgentOptions> agent, IOptions<ManualsOptions> options, ActiveModel active)
    {
        _active = active;
        Options = options.Value;
        var path = Path.Combine(agent.Value.DataDir, KnowledgeBase.FileName);
        _kb = new Lazy<KnowledgeBase>(() => KnowledgeBase.Open(path, new KnowledgeOptions { RelevanceFloor = Options.RelevanceFloor }), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public ManualsOptions Options { get; }

    /// <summary>
    /// Counts prompt tokens as the active model will: its own tokenizer when one is loaded (no BOS/EOS, the passages sit
    /// inside the prompt), else the knowledge base's estimate.
    /// </summary>
    public ITokenCounter TokenCounter => _active.Model is { } model
        ? new DelegateTokenCounter(text => model.Tokenizer.Encode(text, addSpecialTokens: false).Length)
        : EstimatingTokenCounter.Instance;

    /// <summary>The <see cref="ManualsOptions.TopK"/> best passages for a question and whether they answer it.</summary>
    public SearchResults Search(string question) => _kb.Value.Search(question, Options.TopK);

    public void Dispose()
    {
        if (_kb.IsValueCreated)
        {
            _kb.Value.Dispose();
        }
    }
}
