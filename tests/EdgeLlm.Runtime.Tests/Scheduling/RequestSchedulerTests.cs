using EdgeLlm.Runtime.Scheduling;

namespace EdgeLlm.Runtime.Tests.Scheduling;

public sealed class RequestSchedulerTests
{
    [Fact]
    public async Task FreeSlot_IsGrantedAtOnce()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions());
        var enter = scheduler.EnterAsync(RequestPriority.Automation);
        Assert.True(enter.IsCompletedSuccessfully);
        using var lease = await enter;
        Assert.Equal(1, scheduler.Running);
        Assert.Equal(0, scheduler.QueueDepth);
    }

    [Fact]
    public async Task FullQueue_IsRefusedImmediatelyAsBusy()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions { QueueCapacity = 2, MaxConcurrency = 1 });
        using var running = await scheduler.EnterAsync(RequestPriority.Operator);
        var first = scheduler.EnterAsync(RequestPriority.Operator);
        var second = scheduler.EnterAsync(RequestPriority.Automation);

        var ex = ThrowsAtOnce<SchedulerBusyException>(() => scheduler.EnterAsync(RequestPriority.Automation));
        Assert.StartsWith("busy", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, ex.QueueCapacity);
        Assert.Equal(2, scheduler.QueueDepth);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
    }

    [Fact]
    public async Task ZeroCapacity_RefusesWheneverAllSlotsAreBusy()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions { QueueCapacity = 0 });
        using var running = await scheduler.EnterAsync(RequestPriority.Automation);
        ThrowsAtOnce<SchedulerBusyException>(() => scheduler.EnterAsync(RequestPriority.Operator));
    }

    [Fact]
    public async Task Waiters_AreServedByPriorityThenInArrivalOrder()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions { QueueCapacity = 10 });
        var running = await scheduler.EnterAsync(RequestPriority.Automation);
        var order = new List<string>();
        var waiters = new[]
        {
            ("auto1", RequestPriority.Automation),
            ("op1", RequestPriority.Operator),
            ("auto2", RequestPriority.Automation),
            ("op2", RequestPriority.Operator),
        }.Select(w => (Name: w.Item1, Task: scheduler.EnterAsync(w.Item2))).ToList();

        var lease = running;
        for (var i = 0; i < waiters.Count; i++)
        {
            lease.Dispose();
            var granted = await Task.WhenAny(waiters.Where(w => !order.Contains(w.Name)).Select(w => w.Task));
            var name = waiters.Single(w => w.Task == granted).Name;
            order.Add(name);
            lease = await granted;
            Assert.Equal(1, scheduler.Running);
            Assert.All(waiters.Where(w => !order.Contains(w.Name)), w => Assert.False(w.Task.IsCompleted));
        }

        lease.Dispose();
        Assert.Equal(["op1", "op2", "auto1", "auto2"], order);
        Assert.Equal(0, scheduler.Running);
    }

    [Fact]
    public async Task CancelledWaiter_LeavesTheQueue()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions { QueueCapacity = 1 });
        var running = await scheduler.EnterAsync(RequestPriority.Automation);
        using var cts = new CancellationTokenSource();
        var waiting = scheduler.EnterAsync(RequestPriority.Automation, cts.Token);
        Assert.Equal(1, scheduler.QueueDepth);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, scheduler.QueueDepth);

        // The freed place in the queue is usable, and releasing the slot does not hand it to the cancelled waiter.
        var next = scheduler.EnterAsync(RequestPriority.Automation);
        running.Dispose();
        using var lease = await next;
        Assert.Equal(1, scheduler.Running);
    }

    [Fact]
    public void AlreadyCancelledToken_IsNotQueued()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions());
        ThrowsAtOnce<OperationCanceledException>(() => scheduler.EnterAsync(RequestPriority.Operator, new CancellationToken(true)));
        Assert.Equal(0, scheduler.Running);
    }

    [Fact]
    public async Task UrgentRequest_PushesTheNewestLessUrgentWaiterOutOfAFullQueue()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions { QueueCapacity = 2 });
        using var running = await scheduler.EnterAsync(RequestPriority.Automation);
        var older = scheduler.EnterAsync(RequestPriority.Automation);
        var newer = scheduler.EnterAsync(RequestPriority.Automation);

        var urgent = scheduler.EnterAsync(RequestPriority.Operator);

        var ex = await Assert.ThrowsAsync<SchedulerBusyException>(() => newer);
        Assert.Contains("busy", ex.Message, StringComparison.Ordinal);
        Assert.False(older.IsCompleted);
        Assert.False(urgent.IsCompleted);
        Assert.Equal(2, scheduler.QueueDepth);

        var urgent2 = scheduler.EnterAsync(RequestPriority.Operator);
        await Assert.ThrowsAsync<SchedulerBusyException>(() => older);
        Assert.False(urgent2.IsCompleted);

        // Only operators wait now: the next one has nobody to push out.
        ThrowsAtOnce<SchedulerBusyException>(() => scheduler.EnterAsync(RequestPriority.Operator));
        Assert.Equal(2, scheduler.QueueDepth);
    }

    [Fact]
    public async Task MaxConcurrency_LetsThatManyRunAtOnce()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions { MaxConcurrency = 2 });
        using var a = await scheduler.EnterAsync(RequestPriority.Automation);
        using var b = await scheduler.EnterAsync(RequestPriority.Automation);
        var c = scheduler.EnterAsync(RequestPriority.Automation);
        Assert.False(c.IsCompleted);
        Assert.Equal(2, scheduler.Running);
        Assert.Equal(1, scheduler.QueueDepth);
        a.Dispose();
        using var lease = await c;
        Assert.Equal(2, scheduler.Running);
    }

    [Fact]
    public async Task DisposingALeaseTwice_FreesOneSlot()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions { MaxConcurrency = 2 });
        var a = await scheduler.EnterAsync(RequestPriority.Automation);
        using var b = await scheduler.EnterAsync(RequestPriority.Automation);
        a.Dispose();
        a.Dispose();
        Assert.Equal(1, scheduler.Running);
    }

    [Fact]
    public async Task Changed_ReportsQueueDepth()
    {
        var scheduler = new RequestScheduler(new SchedulerOptions());
        var depths = new List<int>();
        scheduler.Changed += s => depths.Add(s.QueueDepth);
        var running = await scheduler.EnterAsync(RequestPriority.Automation);
        var waiting = scheduler.EnterAsync(RequestPriority.Automation);
        running.Dispose();
        (await waiting).Dispose();
        Assert.Equal([0, 1, 0, 0], depths);
    }

    /// <summary>The call must throw before returning a task: a refusal that only shows when awaited could be an unbounded wait.</summary>
    private static T ThrowsAtOnce<T>(Func<Task> call)
        where T : Exception
    {
        Task task;
        try
        {
            task = call();
        }
        catch (T ex)
        {
            return ex;
        }

        throw new Xunit.Sdk.XunitException($"Expected {typeof(T).Name} to be thrown at once; got a task in state {task.Status}.");
    }
}
