namespace EdgeLlm.Runtime.Scheduling;

/// <summary>How urgent a request is. Higher values are served first; equal ones in arrival order.</summary>
public enum RequestPriority
{
    /// <summary>Rules, scripts and other unattended callers.</summary>
    Automation = 0,

    /// <summary>A person waiting for the answer.</summary>
    Operator = 1,
}
