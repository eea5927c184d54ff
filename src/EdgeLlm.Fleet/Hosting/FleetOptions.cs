using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Hosting;

/// <summary>The <c>Fleet</c> section (also <c>--data-dir</c>, <c>--postgres</c> and <c>Fleet__…</c> environment variables).</summary>
internal sealed class FleetOptions
{
    public const string Section = "Fleet";

    /// <summary>The SQLite store's folder (file <c>fleet.db</c> inside). Default <c>./fleet-data</c>. Ignored with <see cref="Postgres"/>.</summary>
    [Required]
    public string DataDir { get; set; } = "fleet-data";

    /// <summary>An Npgsql connection string: use PostgreSQL instead of SQLite. Default none.</summary>
    public string? Postgres { get; set; }

    /// <summary>Telemetry batches a device may post per minute, on average. Default 120.</summary>
    [Range(1, 1_000_000)]
    public int TelemetryBatchesPerMinute { get; set; } = 120;

    /// <summary>Telemetry batches a device may post in a burst above the average. Default 20.</summary>
    [Range(1, 1_000_000)]
    public int TelemetryBurst { get; set; } = 20;

    /// <summary>Largest telemetry body. Default 1 MiB (the contract's limit).</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxTelemetryBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Most items in one telemetry batch. Default 1000 (the contract's limit).</summary>
    [Range(1, 100_000)]
    public int MaxTelemetryItems { get; set; } = 1000;

    /// <summary>Largest body of every other request. Default 64 KiB.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>A device not seen for longer than this shows health <c>stale</c>. Default 5 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Recent errors the dashboard shows. Default 20.</summary>
    [Range(1, 1000)]
    public int DashboardErrors { get; set; } = 20;
}

[OptionsValidator]
internal sealed partial class FleetOptionsValidator : IValidateOptions<FleetOptions>;
