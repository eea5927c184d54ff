using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Models;
using EdgeLlm.Knowledge;
using EdgeLlm.Knowledge.Chunking;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Knowledge;

/// <summary>
/// The device's manuals index (<c>knowledge.db</c> in the data directory), opened on the first question and shared by
/// every request (the knowledge base serializes its calls). When <c>edgellm manuals add|remove</c> or a manuals bundle
/// (<see cref="ManualsBundleInstaller"/>, on a connection of its own) changes the index while the agent runs, it is
/// reopened so its cached term statistics match the new content.
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

    /// <summary>
    /// Reopens the index for the next question: called after this process committed a change to it, so the switch does
    /// not depend on the file system's write-time resolution.
    /// </summary>
    public void Refresh()
    {
        lock (_gate)
        {
            _kb?.Dispose();
            _kb = null;
        }
    }

    public void Dispose() => Refresh();

    private KnowledgeBase Current()
    {
        // Writers use connections of their own (other processes, or the bundle installer, which also calls Refresh), so a
        // new write time on the file or its WAL means new content.
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
