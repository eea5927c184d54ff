using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// The <c>Fleet</c> section: how the device syncs with its fleet server. Nothing here turns syncing on: the agent syncs
/// once <c>edgellm enroll</c> has written <c>{Agent:DataDir}/fleet.json</c>, and runs exactly as before without it.
/// </summary>
internal sealed class FleetOptions
{
    public const string Section = "Fleet";

    /// <summary>Seconds between upload attempts while the outbox is drained (a full batch goes on at once). Default 30.</summary>
    [Range(1, 86_400)]
    public int UploadIntervalSeconds { get; set; } = 30;

    /// <summary>Items per telemetry batch (the server takes at most 1000 and 1 MiB). Default 500.</summary>
    [Range(1, 1000)]
    public int BatchSize { get; set; } = 500;

    /// <summary>Bytes the outbox may hold; beyond it the oldest low-priority items go first, then the oldest others. Default 16 MiB.</summary>
    [Range(64 * 1024, 4L * 1024 * 1024 * 1024)]
    public long OutboxMaxBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Seconds between desired-state polls. Default 60.</summary>
    [Range(1, 86_400)]
    public int PollIntervalSeconds { get; set; } = 60;

    /// <summary>Ceiling of the first retry wait after a failure; it doubles per failure up to <see cref="BackoffMaxMs"/>, with full jitter. Default 1000 ms.</summary>
    [Range(1, 3_600_000)]
    public int BackoffMinMs { get; set; } = 1000;

    /// <summary>Largest retry wait. Default 300000 ms (5 min).</summary>
    [Range(1, 86_400_000)]
    public int BackoffMaxMs { get; set; } = 300_000;

    /// <summary>Seconds between telemetry samples (rates, latency percentiles, temperatures, memory, disk). Default 60.</summary>
    [Range(1, 86_400)]
    public int SampleIntervalSeconds { get; set; } = 60;

    /// <summary>Time limit of one HTTP request to the fleet server. Default 30 s.</summary>
    [Range(1, 600)]
    public int HttpTimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// The device's half of the query-log upload policy. Default false. The redacted query log is uploaded only when this
    /// is true AND the fleet's desired state says <c>query_log_upload: true</c> AND the local query log is on
    /// (<c>Agent:QueryLog</c>): the device owner and the operator must both allow it.
    /// </summary>
    public bool QueryLogUpload { get; set; }

    /// <summary>Regular expressions of device serial numbers, replaced by <c>[serial]</c> in uploaded query log entries. Default none.</summary>
    public IList<string> SerialPatterns { get; init; } = [];

    /// <summary>At most this many <c>request_error</c> events per sample interval; further errors are only counted. Default 20.</summary>
    [Range(0, 10_000)]
    public int MaxErrorEventsPerSample { get; set; } = 20;

    public TimeSpan UploadInterval => TimeSpan.FromSeconds(UploadIntervalSeconds);

    public TimeSpan PollInterval => TimeSpan.FromSeconds(PollIntervalSeconds);

    public TimeSpan SampleInterval => TimeSpan.FromSeconds(SampleIntervalSeconds);
}

[OptionsValidator]
internal sealed partial class FleetOptionsValidator : IValidateOptions<FleetOptions>;

/// <summary>Rules across fields, and the serial patterns, which must compile.</summary>
internal sealed class FleetOptionsRules : IValidateOptions<FleetOptions>
{
    public ValidateOptionsResult Validate(string? name, FleetOptions options)
    {
        var failures = new List<string>();
        if (options.BackoffMinMs > options.BackoffMaxMs)
        {
            failures.Add($"Fleet:BackoffMinMs: {options.BackoffMinMs} is above Fleet:BackoffMaxMs ({options.BackoffMaxMs})");
        }

        for (var i = 0; i < options.SerialPatterns.Count; i++)
        {
            var pattern = options.SerialPatterns[i];
            if (string.IsNullOrWhiteSpace(pattern))
            {
                failures.Add($"Fleet:SerialPatterns:{i}: is empty");
                continue;
            }

            try
            {
                _ = new Regex(pattern, RegexOptions.None, Redactor.MatchTimeout);
            }
            catch (ArgumentException ex)
            {
                failures.Add($"Fleet:SerialPatterns:{i}: '{pattern}' is not a valid regular expression: {ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
