using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>The download half of the <c>Updates</c> section: when and how fast bundles come down from the fleet server.</summary>
internal sealed class UpdateOptions
{
    public const string Section = "Updates";

    /// <summary>
    /// When downloads may run: <c>HH:mm-HH:mm</c> in the device's local time zone, or with a <c>Z</c> (or <c> UTC</c>)
    /// suffix in UTC, e.g. <c>02:00-05:00</c> or <c>22:30-04:00Z</c> (a window may cross midnight; the end is exclusive).
    /// Outside it a download waits, and one in progress pauses at the end of the window and resumes at the next.
    /// Default none: any time.
    /// </summary>
    public string? MaintenanceWindow { get; set; }

    /// <summary>Bandwidth cap of downloads in bytes per second; 0 = no cap. Default 0.</summary>
    [Range(0, long.MaxValue)]
    public long MaxBytesPerSecond { get; set; }

    /// <summary>Bytes a capped download may take at once above the average (the token bucket's size). Default 256 KiB.</summary>
    [Range(4096, 64 * 1024 * 1024)]
    public int BurstBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The part file is flushed to disk (in the background, while the download goes on) once this many new bytes arrived
    /// and <see cref="FlushIntervalMs"/> passed since the last flush, so a power loss costs at most two flush periods of
    /// transfer again. Default 4 MiB.
    /// </summary>
    [Range(64 * 1024, 1024L * 1024 * 1024)]
    public long FlushBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// The shortest time between two flushes of the part file. On a fast link a flush every <see cref="FlushBytes"/> would
    /// be hundreds of fsyncs a second, each a journal commit that stalls the writes beside it and wears the flash; on a
    /// slow one the byte count is reached later than this anyway. Flushes run beside the writes (the writes do not wait
    /// for the disk meanwhile), and the one that ends the download has only the bytes since the last to write: a disk
    /// whose flush writes everything since the one before (a virtual disk over a host's page cache) made the download's
    /// last flush a third of its time with a flush a second. 0 = every <see cref="FlushBytes"/>. Default 250 ms.
    /// </summary>
    [Range(0, 600_000)]
    public int FlushIntervalMs { get; set; } = 250;

    /// <summary>
    /// The shortest time between two <c>downloading N%</c> reports (each an event to the fleet and on the <c>events</c>
    /// topic); the first and the last of a download are always reported. 0 = every whole percent. Default 1000 ms.
    /// </summary>
    [Range(0, 600_000)]
    public int ProgressIntervalMs { get; set; } = 1000;

    /// <summary>
    /// Write downloads past the page cache (Linux <c>O_DIRECT</c>) where the filesystem allows it, one write at a time,
    /// instead of through the page cache with the written bytes streamed to the device and dropped behind the writes
    /// (<see cref="PartFileWriter"/>). Either way a bundle does not evict what the device needs (the active model's
    /// pages). Direct writes save a copy of every byte, but each waits for the device: on the benchmark machine the
    /// streamed writes were twice as fast. A filesystem that refuses gets normal writes. Default false.
    /// </summary>
    public bool DirectWrites { get; set; }

    /// <summary>Attempts in a row that keep no bytes (nothing arrived, or the disk refused it) before a download fails. Default 30.</summary>
    [Range(1, 100_000)]
    public int MaxAttemptsWithoutProgress { get; set; } = 30;

    /// <summary>Ceiling of the first retry wait; it doubles per failure up to <see cref="RetryMaxMs"/>, with full jitter. Default 1000 ms.</summary>
    [Range(0, 3_600_000)]
    public int RetryMinMs { get; set; } = 1000;

    /// <summary>Largest retry wait. Default 300000 ms (5 min).</summary>
    [Range(0, 86_400_000)]
    public int RetryMaxMs { get; set; } = 300_000;

    /// <summary>A connection that delivers no byte for this long is dropped and the download resumes on a new one. Default 60 s.</summary>
    [Range(1, 3600)]
    public int StallTimeoutSeconds { get; set; } = 60;
}

[OptionsValidator]
internal sealed partial class UpdateOptionsValidator : IValidateOptions<UpdateOptions>;

/// <summary>The maintenance window must parse; the retry range must be ordered.</summary>
internal sealed class UpdateOptionsRules : IValidateOptions<UpdateOptions>
{
    public ValidateOptionsResult Validate(string? name, UpdateOptions options)
    {
        var failures = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.MaintenanceWindow) && !DownloadWindow.TryParse(options.MaintenanceWindow, out _, out var problem))
        {
            failures.Add($"Updates:MaintenanceWindow: {problem}");
        }

        if (options.RetryMinMs > options.RetryMaxMs)
        {
            failures.Add($"Updates:RetryMinMs: {options.RetryMinMs} is above Updates:RetryMaxMs ({options.RetryMaxMs})");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
