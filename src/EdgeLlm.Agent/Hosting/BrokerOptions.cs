using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Hosting;

/// <summary>The <c>Broker</c> section: the embedded MQTT broker or an external one.</summary>
internal sealed class BrokerOptions
{
    public const string Section = "Broker";

    /// <summary><c>embedded</c> (an MQTT broker inside the agent) or <c>external</c>. Default embedded.</summary>
    [Required]
    [RegularExpression("^(embedded|external)$", ErrorMessage = "must be 'embedded' or 'external'")]
    public string Mode { get; set; } = "embedded";

    /// <summary>The external broker's host. Required when <see cref="Mode"/> is external.</summary>
    public string? Host { get; set; }

    /// <summary>The external broker's port, or the embedded broker's listening port. Default 1883 (8883 with TLS).</summary>
    [Range(1, 65535)]
    public int? Port { get; set; }

    /// <summary>Address the embedded broker listens on. Default 127.0.0.1: nothing outside the device can connect.</summary>
    [Required]
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>Credentials of the agent on an external broker. Default none.</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>Connect to the external broker with TLS. Default false.</summary>
    public bool UseTls { get; set; }

    /// <summary>PEM file of the CA that signed the broker's certificate. Default: the system's trust store.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM client certificate (with <see cref="ClientKeyFile"/>) for brokers that require one. Default none.</summary>
    public string? ClientCertFile { get; set; }

    public string? ClientKeyFile { get; set; }

    /// <summary>First wait before reconnecting, doubled after each failure up to <see cref="ReconnectMaxMs"/>, with jitter. Default 200 ms.</summary>
    [Range(10, 600_000)]
    public int ReconnectMinMs { get; set; } = 200;

    /// <summary>Longest wait between reconnect attempts. Default 30000 ms.</summary>
    [Range(10, 3_600_000)]
    public int ReconnectMaxMs { get; set; } = 30_000;

    /// <summary>MQTT keep-alive. Default 15 s.</summary>
    [Range(1, 3600)]
    public int KeepAliveSeconds { get; set; } = 15;

    /// <summary>
    /// Users of the embedded broker. Default none: anonymous clients may connect (the broker is on loopback).
    /// With users, every client must log in and may only publish and subscribe where its user allows.
    /// </summary>
    [ValidateEnumeratedItems]
    public IList<BrokerUser> Users { get; init; } = [];

    public int EffectivePort => Port ?? (UseTls ? 8883 : 1883);

    public bool Embedded => Mode == "embedded";
}

/// <summary>A user of the embedded broker and the topics it may use (MQTT filters with + and #).</summary>
internal sealed class BrokerUser
{
    [Required]
    public string Username { get; set; } = "";

    [Required]
    public string Password { get; set; } = "";

    /// <summary>Topic filters the user may publish to. Default none.</summary>
    public IList<string> Publish { get; init; } = [];

    /// <summary>Topic filters the user may subscribe to. Default none.</summary>
    public IList<string> Subscribe { get; init; } = [];
}

[OptionsValidator]
internal sealed partial class BrokerOptionsValidator : IValidateOptions<BrokerOptions>;

/// <summary>Rules across fields that attributes cannot state.</summary>
internal sealed class BrokerOptionsRules : IValidateOptions<BrokerOptions>
{
    public ValidateOptionsResult Validate(string? name, BrokerOptions options)
    {
        var failures = new List<string>();
        if (!options.Embedded && string.IsNullOrWhiteSpace(options.Host))
        {
            failures.Add("Broker:Host: is required when Broker:Mode is external");
        }

        if (options.Embedded && !System.Net.IPAddress.TryParse(options.BindAddress, out _))
        {
            failures.Add($"Broker:BindAddress: '{options.BindAddress}' is not an IP address");
        }

        if (options.ReconnectMinMs > options.ReconnectMaxMs)
        {
            failures.Add($"Broker:ReconnectMinMs: {options.ReconnectMinMs} is above Broker:ReconnectMaxMs ({options.ReconnectMaxMs})");
        }

        foreach (var (key, path) in new[] { ("CaFile", options.CaFile), ("ClientCertFile", options.ClientCertFile), ("ClientKeyFile", options.ClientKeyFile) })
        {
            if (path is not null && !File.Exists(path))
            {
                failures.Add($"Broker:{key}: file '{path}' does not exist");
            }
        }

        if ((options.ClientCertFile is null) != (options.ClientKeyFile is null))
        {
            failures.Add("Broker:ClientCertFile: needs Broker:ClientKeyFile too (and the other way round)");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
