using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Knowledge;
using EdgeLlm.Knowledge.Chunking;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Knowledge;

/// <summary>
/// The device's manuals index (<c>knowledge.db</c> in the data directory), opened on the first question and shared by
/// every request (the knowledge base serializes its calls). When <c>edgellm manuals add|remove</c> changes the files
/// while the agent runs, the index is reopened so its cached term statistics match the new content.
/// </summary>
internal sealed class Manuals(IOptions<AgentOptions> agent, IOptions<ManualsOptions> options, ActiveModel active) : IDisposable
{
    private readonly string _path = Path.Combine(agent.Value.DataDir, KnowledgeBase.FileName);
    private readonly Lock _gate = new();
    private KnowledgeBase? _kb;
    private (DateTime Db, DateTime Wal) _stamp;

    public ManualsOptions Options { get; } = options.Value;

    /// <summary>
    /// Counts prompt tokens as the active model will: its own tokenizer when one is loaded (no BOS/EOS, the passages sit
    /// inside the prompt), else the knowledge base's estimate.
    /// </summary>
    public ITokenCounter TokenCounter => active.Model is { } model
        ? new DelegateTokenCounter(text => model.Tokenizer.Encode(text, addSpecialTokens: false).Length)
        : EstimatingTokenCounter.Instance;

    /// <summary>The <see cref="ManualsOptions.TopK"/> best passages for a question and whether they answer it.</summary>
    public SearchResults Search(string question)
    {
        // Searched under the lock so a reopen never disposes an index another question is still reading.
        lock (_gate)
        {
            return Current().Search(question, Options.TopK);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _kb?.Dispose();
            _kb = null;
        }
    }

    private KnowledgeBase Current()
    {
        // Only other processes write (this one only reads), so a new write time on the file or its WAL means new content.
        var stamp = (File.GetLastWriteTimeUtc(_path), File.GetLastWriteTimeUtc(_path + "-wal"));
        if (_kb is null || stamp != _stamp)
        {
            _kb?.Dispose();
            _kb = KnowledgeBase.Open(_path, new KnowledgeOptions { RelevanceFloor = Options.RelevanceFloor });
            _stamp = (File.GetLastWriteTimeUtc(_path), File.GetLastWriteTimeUtc(_path + "-wal"));
        }

        return _kb;
    }
}
