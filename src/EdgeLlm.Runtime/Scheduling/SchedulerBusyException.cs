namespace EdgeLlm.Runtime.Scheduling;

/// <summary>The request queue is full (or the request was pushed out by a more urgent one): try again later.</summary>
public sealed class SchedulerBusyException : Exception
{
    public SchedulerBusyException(int queueCapacity, RequestPriority priority, bool displaced = false)
        : base(displaced
            ? $"busy: this {priority} request was pushed out of the full queue ({queueCapacity} waiting) by a more urgent one; try again later."
            : $"busy: {queueCapacity} requests are already waiting for the model; try again later.")
    {
        QueueCapacity = queueCapacity;
        Priority = priority;
    }

    public int QueueCapacity { get; }

    public RequestPriority Priority { get; }
}
