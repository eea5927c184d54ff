using System.Diagnostics.CodeAnalysis;

namespace EdgeLlm.Runtime.Scheduling;

/// <summary>
/// Lets many callers share one loaded model: at most <see cref="SchedulerOptions.MaxConcurrency"/> requests run,
/// up to <see cref="SchedulerOptions.QueueCapacity"/> wait (more urgent first, then first come first served), and
/// any more are refused at once with <see cref="SchedulerBusyException"/>. When the queue is full, a more urgent
/// request pushes out the newest of the least urgent waiters, which then gets the busy error.
/// </summary>
internal sealed class RequestScheduler
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter>[] _queues;
    private readonly int _capacity;
    private readonly int _maxConcurrency;
    private int _running;
    private int _waiting;

    public RequestScheduler(SchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.QueueCapacity, nameof(options.QueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxConcurrency, 1, nameof(options.MaxConcurrency));
        _capacity = options.QueueCapacity;
        _maxConcurrency = options.MaxConcurrency;
        var levels = Enum.GetValues<RequestPriority>().Max(p => (int)p) + 1;
        _queues = new LinkedList<Waiter>[levels];
        for (var i = 0; i < levels; i++)
        {
            _queues[i] = new LinkedList<Waiter>();
        }
    }

    /// <summary>Requests waiting for a slot.</summary>
    public int QueueDepth
    {
        get
        {
            lock (_lock)
            {
                return _waiting;
            }
        }
    }

    /// <summary>Requests holding a slot.</summary>
    public int Running
    {
        get
        {
            lock (_lock)
            {
                return _running;
            }
        }
    }

    /// <summary>Raised (outside the scheduler's lock) whenever <see cref="QueueDepth"/> or <see cref="Running"/> changes.</summary>
    public event Action<RequestScheduler>? Changed;

    /// <summary>
    /// Waits for a slot; dispose the lease to free it. Throws <see cref="SchedulerBusyException"/> at once when the
    /// queue is full. Cancelling <paramref name="cancellationToken"/> while waiting removes the request from the queue.
    /// </summary>
    [SuppressMessage("Reliability", "CA2000", Justification = "The lease belongs to the caller, who disposes it to free the slot.")]
    public Task<SchedulerLease> EnterAsync(RequestPriority priority, CancellationToken cancellationToken = default)
    {
        if ((uint)priority >= (uint)_queues.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(priority), priority, "Unknown priority.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        Waiter? displaced = null;
        Waiter? waiter = null;
        lock (_lock)
        {
            if (_running < _maxConcurrency && _waiting == 0)
            {
                _running++;
            }
            else
            {
                if (_waiting >= _capacity)
                {
                    displaced = RemoveNewestBelow(priority) ?? throw new SchedulerBusyException(_capacity, priority);
                }

                waiter = new Waiter(this, priority);
                waiter.Node = _queues[(int)priority].AddLast(waiter);
                _waiting++;
            }
        }

        displaced?.Completion.TrySetException(new SchedulerBusyException(_capacity, displaced.Priority, displaced: true));
        displaced?.Registration.Dispose();
        OnChanged();
        if (waiter is null)
        {
            return Task.FromResult(new SchedulerLease(this));
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.Register(static (state, token) => ((Waiter)state!).Cancel(token), waiter);
        }

        return waiter.Completion.Task;
    }

    [SuppressMessage("Reliability", "CA2000", Justification = "The lease belongs to the waiter, who disposes it to free the slot.")]
    internal void Release()
    {
        Waiter? next = null;
        lock (_lock)
        {
            _running--;
            for (var level = _queues.Length - 1; level >= 0 && next is null; level--)
            {
                if (_queues[level].First is { } first)
                {
                    _queues[level].RemoveFirst();
                    _waiting--;
                    _running++;
                    next = first.Value;
                }
            }
        }

        if (next is not null)
        {
            next.Registration.Dispose();
            next.Completion.TrySetResult(new SchedulerLease(this));
        }

        OnChanged();
    }

    private Waiter? RemoveNewestBelow(RequestPriority priority)
    {
        for (var level = 0; level < (int)priority; level++)
        {
            if (_queues[level].Last is { } last)
            {
                _queues[level].RemoveLast();
                _waiting--;
                return last.Value;
            }
        }

        return null;
    }

    private void Cancel(Waiter waiter, CancellationToken token)
    {
        lock (_lock)
        {
            // Already granted or pushed out: the lease (or the busy error) stands.
            if (waiter.Node?.List is null)
            {
                return;
            }

            waiter.Node.List.Remove(waiter.Node);
            _waiting--;
        }

        waiter.Completion.TrySetCanceled(token);
        OnChanged();
    }

    private void OnChanged() => Changed?.Invoke(this);

    private sealed class Waiter(RequestScheduler owner, RequestPriority priority)
    {
        public void Cancel(CancellationToken token) => owner.Cancel(this, token);

        public RequestPriority Priority { get; } = priority;

        public TaskCompletionSource<SchedulerLease> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }

        public CancellationTokenRegistration Registration { get; set; }
    }
}

/// <summary>A slot of a <see cref="RequestScheduler"/>; disposing it lets the next request run.</summary>
internal sealed class SchedulerLease : IDisposable
{
    private RequestScheduler? _scheduler;

    internal SchedulerLease(RequestScheduler scheduler) => _scheduler = scheduler;

    public void Dispose() => Interlocked.Exchange(ref _scheduler, null)?.Release();
}
