using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Metrics;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Agent.Storage;
using EdgeLlm.Contracts.Mqtt;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace EdgeLlm.Agent.Mqtt;

/// <summary>
/// Takes accepted asks from a bounded inbox (one reader loop), runs each through the <see cref="QueryPipeline"/> and
/// publishes its chunks and exactly one final answer or error. The model's scheduler does the queueing by priority;
/// this class adds the per-request timeout, cancellation by id, and the bounded wind-down on stop.
/// </summary>
internal sealed class RequestDispatcher : IHostedService, IDisposable
{
    private readonly AgentOptions _options;
    private readonly QueryPipeline _pipeline;
    private readonly MqttConnection _connection;
    private readonly StatusBoard _status;
    private readonly AgentDatabase _database;
    private readonly IRequestRecorder[] _recorders;
    private readonly AgentMetrics? _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<RequestDispatcher> _logger;
    private readonly Channel<AskWork> _inbox;
    private readonly Channel<(ReplyAddress To, ReplyMessage Message)> _rejections =
        Channel.CreateBounded<(ReplyAddress, ReplyMessage)>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    private readonly ConcurrentDictionary<string, InFlight> _inFlight = new();
    private readonly CancellationTokenSource _abort = new();
    private Task? _readLoop;
    private Task? _rejectLoop;
    private volatile bool _accepting = true;

    public RequestDispatcher(IOptions<AgentOptions> options, QueryPipeline pipeline, MqttConnection connection, StatusBoard status,
        AgentDatabase database, EmbeddedBroker broker, TimeProvider time, ILogger<RequestDispatcher> logger, IEnumerable<IRequestRecorder> recorders,
        AgentMetrics? metrics = null)
    {
        _recorders = [.. recorders];
        _metrics = metrics;
        broker.ClientDisconnected += OnClientDisconnected;
        _options = options.Value;
        _pipeline = pipeline;
        _connection = connection;
        _status = status;
        _database = database;
        _time = time;
        _logger = logger;
        _inbox = Channel.CreateBounded<AskWork>(new BoundedChannelOptions(_options.InboxCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _status.InboxDepth = () => _inbox.Reader.Count;
    }

    /// <summary>True while the reader loop runs (the watchdog's view of this component).</summary>
    public bool Running => _readLoop is { IsCompleted: false };

    /// <summary>Requests accepted and not yet finished.</summary>
    public int InFlightCount => _inFlight.Count;

    /// <summary>Accepts an ask, or says why not (busy, duplicate id, stopping).</summary>
    public QueryException? TryAccept(AskWork work)
    {
        if (!_accepting)
        {
            return new QueryException(ErrorCodes.Busy, "the agent is stopping; ask again when it is back");
        }

        var entry = new InFlight(work);
        if (!_inFlight.TryAdd(work.Query.RequestId, entry))
        {
            entry.Dispose();
            return new QueryException(ErrorCodes.InvalidRequest, $"a request with id '{work.Query.RequestId}' is already running; use a new id");
        }

        if (!_inbox.Writer.TryWrite(work))
        {
            _inFlight.TryRemove(work.Query.RequestId, out _);
            entry.Dispose();
            return new QueryException(ErrorCodes.Busy, $"{_options.InboxCapacity} asks are already waiting (Agent:InboxCapacity); ask again later");
        }

        _status.Signal();
        return null;
    }

    /// <summary>Cancels a request by id; false when no such request is running or waiting.</summary>
    public bool Cancel(string id)
    {
        if (_inFlight.TryGetValue(id, out var entry))
        {
            entry.CancelByClient("cancelled by a cancel message");
            return true;
        }

        return false;
    }

    /// <summary>Nobody is left to read the answers of a client that went away: stop its requests.</summary>
    private void OnClientDisconnected(string clientId)
    {
        foreach (var entry in _inFlight.Values.Where(e => e.Work.Sender == clientId))
        {
            entry.CancelByClient("the asking client disconnected");
        }
    }

    /// <summary>Queues an error reply for an ask that was refused before it was accepted.</summary>
    public void Reject(ReplyAddress to, string id, string code, string message)
    {
        _rejections.Writer.TryWrite((to, new ErrorMessage { Id = id, CorrelationId = to.CorrelationId, Code = code, Message = message }));
        foreach (var recorder in _recorders)
        {
            recorder.Refused(code);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);
        _rejectLoop = Task.Run(RejectLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops taking asks, lets running ones finish for Agent:ShutdownGraceSeconds, then cancels the rest (they get <c>cancelled</c>).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _accepting = false;
        _status.MarkStopping();
        _inbox.Writer.TryComplete();
        var pending = _inFlight.Values.Select(e => e.Done.Task).ToArray();
        Log.Draining(_logger, pending.Length, _options.ShutdownGraceSeconds);
        var all = Task.WhenAll(pending);
        try
        {
            await all.WaitAsync(TimeSpan.FromSeconds(_options.ShutdownGraceSeconds), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
            // Cancellation reaches the model within one token; the error replies follow at once.
            await all.WaitAsync(TimeSpan.FromSeconds(10), _time, CancellationToken.None).ConfigureAwait(false);
        }

        if (_readLoop is not null)
        {
            await _readLoop.ConfigureAwait(false);
        }

        _rejections.Writer.TryComplete();
        if (_rejectLoop is not null)
        {
            await _rejectLoop.ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _abort.Dispose();
        foreach (var entry in _inFlight.Values)
        {
            entry.Dispose();
        }
    }

    private async Task ReadLoopAsync()
    {
        await foreach (var work in _inbox.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            // The scheduler queues by priority and refuses with busy when full; each request runs on its own.
            _ = Task.Run(() => RunAsync(work), CancellationToken.None);
        }
    }

    private async Task RejectLoopAsync()
    {
        await foreach (var (to, message) in _rejections.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            await PublishAsync(to, message).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(AskWork work)
    {
        var query = work.Query;
        var entry = _inFlight[query.RequestId];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds), _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(entry.Token, timeout.Token, _abort.Token);
        var seq = 0;
        var correlation = work.Reply.CorrelationId;
        QueryResult? result = null;
        ReplyMessage final;
        try
        {
            await foreach (var update in _pipeline.RunAsync(query, linked.Token).ConfigureAwait(false))
            {
                if (update.Result is { } r)
                {
                    result = r;
                }
                else if (work.Stream && update.Text.Length > 0)
                {
                    await PublishAsync(work.Reply, new ChunkMessage { Id = query.RequestId, CorrelationId = correlation, Seq = seq++, Text = update.Text }).ConfigureAwait(false);
                }
            }

            final = result is null
                ? Error(ErrorCodes.Internal, "the pipeline ended without an answer")
                : new AnswerMessage
                {
                    Id = query.RequestId,
                    CorrelationId = correlation,
                    Text = result.Text,
                    Citations = result.Citations,
                    Sensors = result.Sensors,
                    Usage = result.Usage with { TotalMs = Math.Round(_time.GetElapsedTime(work.ReceivedAt).TotalMilliseconds, 3) },
                    Model = result.Model,
                    FinishReason = result.FinishReason,
                };
        }
        catch (QueryException ex)
        {
            final = Error(ex.Code, ex.Message);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            final = entry.Token.IsCancellationRequested ? Error(ErrorCodes.Cancelled, entry.Reason ?? "cancelled")
                : timeout.IsCancellationRequested ? Error(ErrorCodes.Timeout, $"no answer within {_options.RequestTimeoutSeconds} s (Agent:RequestTimeoutSeconds)")
                : Error(ErrorCodes.Cancelled, "the agent is stopping");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.RequestFailed(_logger, query.RequestId, ex);
            final = Error(ErrorCodes.Internal, $"the agent failed to answer ({ex.GetType().Name}); see its log");
        }

        try
        {
            // Counted before the reply goes out, so whoever has the answer also finds it in the metrics.
            Count(work, final, result);
            await PublishAsync(work.Reply, final).ConfigureAwait(false);
            var outcome = final is ErrorMessage err ? err.Code : ((AnswerMessage)final).FinishReason;
            Log.RequestFinished(_logger, query.RequestId, outcome, seq, _time.GetElapsedTime(work.ReceivedAt).TotalMilliseconds);
            var logged = new QueryLogEntry(_time.GetUtcNow(), query.RequestId, query.Mode, query.Question, result?.Text, outcome,
                result?.Usage.PromptTokens ?? 0, result?.Usage.CompletionTokens ?? 0, _time.GetElapsedTime(work.ReceivedAt).TotalMilliseconds);
            _database.Log(logged);
            foreach (var recorder in _recorders)
            {
                recorder.Completed(logged, final is ErrorMessage, result?.Usage.TokensPerS ?? 0);
            }
        }
        finally
        {
            _inFlight.TryRemove(query.RequestId, out _);
            entry.Done.TrySetResult();
            entry.Dispose();
            _status.Signal();
        }

        ErrorMessage Error(string code, string message) => new() { Id = query.RequestId, CorrelationId = correlation, Code = code, Message = message };
    }

    private void Count(AskWork work, ReplyMessage final, QueryResult? result)
    {
        if (_metrics is null)
        {
            return;
        }

        var priority = work.Query.Priority;
        if (final is ErrorMessage error)
        {
            _metrics.Question(priority, error.Code switch
            {
                ErrorCodes.Cancelled => QuestionOutcomes.Cancelled,
                ErrorCodes.Timeout => QuestionOutcomes.Timeout,
                // Refused once it had been accepted: the model's queue was full, or the prompt did not fit.
                ErrorCodes.Busy or ErrorCodes.TooLong or ErrorCodes.InvalidRequest => QuestionOutcomes.Rejected,
                _ => QuestionOutcomes.Failed,
            });
            return;
        }

        _metrics.Question(priority, QuestionOutcomes.Answered);
        var usage = result!.Usage;
        _metrics.Answered(priority, _time.GetElapsedTime(work.ReceivedAt), usage.PromptTokens, usage.CompletionTokens, usage.TtftMs, usage.TokensPerS);
    }

    private async Task PublishAsync(ReplyAddress to, ReplyMessage message)
    {
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(to.Topic)
            .WithPayload(JsonSerializer.SerializeToUtf8Bytes(message, MqttJsonContext.Default.ReplyMessage))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json");
        if (to.CorrelationData is not null)
        {
            builder.WithCorrelationData(to.CorrelationData);
        }

        try
        {
            await _connection.PublishAsync(builder.Build(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The broker is gone: the reply is lost, the agent keeps serving (and reconnects).
            Log.ReplyLost(_logger, message.Id, to.Topic, ex.Message);
        }
    }

    private sealed class InFlight(AskWork work) : IDisposable
    {
        private readonly CancellationTokenSource _cancel = new();

        public AskWork Work { get; } = work;

        public CancellationToken Token => _cancel.Token;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string? Reason { get; private set; }

        public void CancelByClient(string reason)
        {
            Reason ??= reason;
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Finished between the lookup and the cancel: nothing left to stop.
            }
        }

        public void Dispose() => _cancel.Dispose();
    }
}
