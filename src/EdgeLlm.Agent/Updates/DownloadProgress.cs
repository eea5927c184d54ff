namespace EdgeLlm.Agent.Updates;

/// <summary>How far a download is: <see cref="State"/> reads <c>downloading 43%</c>.</summary>
internal readonly record struct DownloadProgress(string Sha256, long Bytes, long? TotalBytes)
{
    /// <summary>Whole percent done (0 to 100); null while the size is not known yet.</summary>
    public int? Percent => TotalBytes is > 0 and var total ? (int)Math.Min(100, Bytes * 100 / total) : null;

    /// <summary>The state to report to the fleet and on the <c>events</c> topic.</summary>
    public string State => Percent is { } p ? $"downloading {p}%" : "downloading";
}

/// <summary>Receives a download's progress: at the start, on every whole-percent step, when waiting for the window, at the end.</summary>
internal interface IDownloadProgress
{
    void Report(DownloadProgress progress);

    /// <summary>The download waits <paramref name="wait"/> for the maintenance window.</summary>
    void Waiting(string sha256, TimeSpan wait);
}

/// <summary>A download that cannot finish: the artifact is unknown, the credential refused, the bytes wrong twice, or the server unreachable too long.</summary>
internal sealed class DownloadFailedException : Exception
{
    public DownloadFailedException()
    {
    }

    public DownloadFailedException(string message)
        : base(message)
    {
    }

    public DownloadFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
