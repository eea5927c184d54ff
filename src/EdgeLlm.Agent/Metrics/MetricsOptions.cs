using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Metrics;

/// <summary>The <c>Metrics</c> section: the opt-in Prometheus endpoint.</summary>
internal sealed class MetricsOptions
{
    public const string Section = "Metrics";

    /// <summary>Serve <c>GET /metrics</c>. Default false: nothing listens.</summary>
    public bool Enabled { get; set; }

    /// <summary><c>ADDRESS:PORT</c> to listen on (IPv6 as <c>[::1]:9464</c>; <c>localhost</c> is the IPv4 loopback). Default 127.0.0.1:9464.</summary>
    [Required]
    public string Listen { get; set; } = "127.0.0.1:9464";

    /// <summary>Allow an address that other machines can reach. Default false: only loopback addresses are accepted.</summary>
    public bool AllowRemote { get; set; }

    /// <summary>Connections served at once; further ones are closed at once. Default 8.</summary>
    [Range(1, 256)]
    public int MaxConnections { get; set; } = 8;

    /// <summary>Seconds a client has to send its request and read the answer before it is cut off. Default 5.</summary>
    [Range(1, 300)]
    public int RequestTimeoutSeconds { get; set; } = 5;

    /// <summary>The parsed <see cref="Listen"/>, or null when it is not ADDRESS:PORT.</summary>
    internal IPEndPoint? Endpoint => ParseListen(Listen);

    internal static IPEndPoint? ParseListen(string? listen)
    {
        if (string.IsNullOrWhiteSpace(listen))
        {
            return null;
        }

        var text = listen.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" + listen[9..] : listen;
        // A bare address parses as port 0 (and an IPv6 one without brackets as an address only): a port must be given.
        return IPEndPoint.TryParse(text, out var ep) && ep.Port > 0 ? ep : null;
    }
}

[OptionsValidator]
internal sealed partial class MetricsOptionsValidator : IValidateOptions<MetricsOptions>;

/// <summary>The rules the attributes cannot say: Listen parses, and is on loopback unless AllowRemote.</summary>
internal sealed class MetricsOptionsRules : IValidateOptions<MetricsOptions>
{
    public ValidateOptionsResult Validate(string? name, MetricsOptions options)
    {
        if (options.Endpoint is not { } ep)
        {
            return ValidateOptionsResult.Fail($"Metrics:Listen: '{options.Listen}' is not ADDRESS:PORT with an IP address and a port from 1 to 65535 (for example 127.0.0.1:9464)");
        }

        if (!IPAddress.IsLoopback(ep.Address) && !options.AllowRemote)
        {
            return ValidateOptionsResult.Fail(
                $"Metrics:Listen: {options.Listen} is not a loopback address; metrics would be open to other machines. Listen on 127.0.0.1, or set Metrics:AllowRemote to true");
        }

        return ValidateOptionsResult.Success;
    }
}
