using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EdgeLlm.Agent.Mqtt;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Sensors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Metrics;

/// <summary>
/// The Prometheus endpoint (<c>Metrics:Enabled</c>): a small HTTP/1.1 server on a <see cref="TcpListener"/> serving
/// <c>GET</c>/<c>HEAD /metrics</c>, one request per connection. The agent has no web stack and needs none for this;
/// owning the loop also bounds what a hostile client can cost: a request head of at most <see cref="MaxRequestBytes"/>,
/// <c>Metrics:RequestTimeoutSeconds</c> for the whole exchange, and <c>Metrics:MaxConnections</c> at once (further
/// connections are closed at once). Other paths get 404, other methods 405, a request line that is not HTTP 400.
/// </summary>
internal sealed class MetricsServer(IOptions<MetricsOptions> options, IServiceProvider services, ILogger<MetricsServer> logger) : IHostedService, IDisposable
{
    /// <summary>Largest request head (request line and headers) read; a longer one gets 414 or 431.</summary>
    public const int MaxRequestBytes = 8192;

    /// <summary>The pause after a failed accept (out of descriptors and the like) before the next one.</summary>
    private static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(100);

    private readonly MetricsOptions _options = options.Value;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, bool> _connections = new();
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConnections, options.Value.MaxConnections);
    private Func<string>? _scrape;
    private TcpListener? _listener;
    private Task? _acceptLoop;
    private long _refused;

    /// <summary>Where the server listens; null while metrics are off.</summary>
    public IPEndPoint? Endpoint => _listener?.LocalEndpoint as IPEndPoint;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return Task.CompletedTask;
        }

        // Resolved only when on: with metrics off nothing listens to the meter at all.
        var metrics = services.GetRequiredService<AgentMetrics>();
        var collector = metrics.Collector ?? throw new InvalidOperationException("metrics are enabled but the agent's meter has no collector");
        ObserveServices(metrics, services);
        _scrape = () => PrometheusText.Write(collector.Collect());
        var endpoint = _options.Endpoint!;
        var listener = new TcpListener(endpoint);
        try
        {
            listener.Start(backlog: 64);
        }
        catch (SocketException ex)
        {
            throw new InvalidOperationException($"Metrics:Listen: cannot listen on {_options.Listen}: {ex.Message}", ex);
        }

        _listener = listener;
        MetricsLog.Listening(logger, Endpoint!.ToString());
        if (!IPAddress.IsLoopback(endpoint.Address))
        {
            MetricsLog.RemoteAllowed(logger, Endpoint.ToString());
        }

        _acceptLoop = Task.Run(AcceptLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>The gauges and totals other services keep, read at each scrape.</summary>
    private static void ObserveServices(AgentMetrics metrics, IServiceProvider services)
    {
        if (services.GetService<StatusBoard>() is { } status)
        {
            metrics.ObserveGauge("edgellm.queue.depth", "{question}", "Questions waiting: the agent's inbox and the model's queue.", () => status.Current().QueueDepth);
        }

        if (services.GetService<SensorHub>() is { } hub)
        {
            metrics.ObserveCounter("edgellm.sensor.readings_stored", "{reading}", "Sensor readings accepted and written to the store.", () => hub.Written);
            metrics.ObserveCounter("edgellm.sensor.readings_rejected", "{reading}", "Sensor readings refused (unknown sensor, not finite, bad timestamp or unit).", () => hub.Rejections.Total);
        }

        if (services.GetService<Downloader>() is { } downloader)
        {
            metrics.ObserveCounter("edgellm.update.download", "By", "Update payload bytes received from the fleet server, all attempts.", () => downloader.BytesReceived);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is null)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _acceptLoop!.ConfigureAwait(false);
        // Every connection ends within its timeout, and the stop token ends them sooner.
        await Task.WhenAll(_connections.Keys).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _stop.Dispose();
        _slots.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptSocketAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException ex) when (!token.IsCancellationRequested)
            {
                // Out of descriptors and the like: wait a moment rather than spin (a stop ends the wait).
                MetricsLog.ConnectionFailed(logger, "(accept)", ex.Message);
                await Task.Delay(AcceptRetryDelay, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            catch (SocketException)
            {
                return;
            }

            if (!_slots.Wait(0))
            {
                socket.Dispose();
                var refused = Interlocked.Increment(ref _refused);
                if (refused is 1 or 10 or 100 or 1000 or 10_000)
                {
                    MetricsLog.ConnectionsRefused(logger, refused);
                }

                continue;
            }

            var serving = ServeAsync(socket, token);
            _connections[serving] = true;
            _ = serving.ContinueWith(t => _connections.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken stopping)
    {
        await Task.Yield();
        var remote = socket.RemoteEndPoint?.ToString() ?? "?";
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds));
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            var head = await ReadHeadAsync(stream, timeout.Token).ConfigureAwait(false);
            if (head is null)
            {
                return; // The client went away before a whole request.
            }

            var response = Respond(head.Value, _scrape!);
            await stream.WriteAsync(response, timeout.Token).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
            await DrainAsync(stream, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            MetricsLog.ConnectionFailed(logger, remote, ex.Message);
        }
        finally
        {
            socket.Dispose();
            _slots.Release();
        }
    }

    /// <summary>
    /// Reads what the client still sends (a long request line, a body) until it closes, up to a bound: closing with unread
    /// input resets the connection, and a reset can cost the client the response it has not read yet.
    /// </summary>
    private static async Task DrainAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        for (var total = 0; total < 16 * MaxRequestBytes;)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            total += read;
        }
    }

    /// <summary>The request head: the bytes up to the blank line, or how it failed (too long). Null when the client closed first.</summary>
    private static async Task<(string? Head, int Status)?> ReadHeadAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxRequestBytes];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            var from = Math.Max(0, filled - 3);
            filled += read;
            var end = EndOfHead(buffer.AsSpan(from, filled - from));
            if (end >= 0)
            {
                return (Encoding.Latin1.GetString(buffer, 0, from + end), 200);
            }
        }

        // Full and no blank line: 414 while the request line itself has not ended, else the headers are too large.
        return (null, buffer.AsSpan().IndexOf((byte)'\n') < 0 ? 414 : 431);
    }

    private static int EndOfHead(ReadOnlySpan<byte> span)
    {
        var crlf = span.IndexOf("\r\n\r\n"u8);
        var lf = span.IndexOf("\n\n"u8);
        return crlf < 0 ? lf : lf < 0 ? crlf : Math.Min(crlf, lf);
    }

    /// <summary>The whole HTTP response to one request head.</summary>
    internal static byte[] Respond((string? Head, int Status) request, Func<string> scrape)
    {
        if (request.Head is null)
        {
            return request.Status == 414
                ? Response(414, "URI Too Long", $"the request line is longer than {MaxRequestBytes} bytes\n")
                : Response(431, "Request Header Fields Too Large", $"the request head is longer than {MaxRequestBytes} bytes\n");
        }

        var line = request.Head.Split('\n', 2)[0].TrimEnd('\r');
        var parts = line.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || !parts[0].All(char.IsAsciiLetterUpper) || !parts[1].StartsWith('/') || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return Response(400, "Bad Request", "not an HTTP/1.x request line (METHOD /path HTTP/1.1)\n");
        }

        var path = parts[1].Split('?', 2)[0];
        if (path != "/metrics")
        {
            return Response(404, "Not Found", "only /metrics is served here\n");
        }

        if (parts[0] is not ("GET" or "HEAD"))
        {
            return Response(405, "Method Not Allowed", $"{parts[0]} is not allowed; use GET or HEAD\n", "Allow: GET, HEAD\r\n");
        }

        var body = Encoding.UTF8.GetBytes(scrape());
        return Response(200, "OK", body, PrometheusText.ContentType, headOnly: parts[0] == "HEAD");
    }

    private static byte[] Response(int status, string reason, string text, string extraHeaders = "") =>
        Response(status, reason, Encoding.UTF8.GetBytes(text), "text/plain; charset=utf-8", headOnly: false, extraHeaders);

    private static byte[] Response(int status, string reason, byte[] body, string contentType, bool headOnly, string extraHeaders = "")
    {
        var head = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n{extraHeaders}\r\n");
        return headOnly ? head : [.. head, .. body];
    }
}
