using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using EdgeLlm.Agent.Tests.Fleet;

namespace EdgeLlm.Agent.Tests.Updates;

/// <summary>
/// A real HTTP server on loopback (HttpListener) serving one artifact with single-range support (206/416), able to drop
/// the connection after a number of bytes, to serve other bytes than it claims, and counting every payload byte it sends.
/// </summary>
internal sealed partial class DownloadTestServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private long _bytesSent;

    public DownloadTestServer(byte[] content)
    {
        Content = content;
        Port = FakeFleetServer.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public Uri ArtifactUri => new($"http://127.0.0.1:{Port}/artifact");

    public byte[] Content { get; set; }

    /// <summary>The next this-many responses stop after <see cref="CutAfterBytes"/> payload bytes and drop the connection.</summary>
    public int CutsLeft { get; set; }

    public int CutAfterBytes { get; set; } = 100_000;

    /// <summary>The next this-many responses flip a byte of the payload (the artifact looks damaged).</summary>
    public int CorruptionsLeft { get; set; }

    /// <summary>When set, every request waits for it before answering.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>When set with <see cref="PauseAfterBytes"/>, the first response stops sending there until this completes.</summary>
    public TaskCompletionSource? Pause { get; set; }

    public int PauseAfterBytes { get; set; }

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>The Range header of every request, in order ("" when none).</summary>
    public List<string> Ranges { get; } = [];

    public HttpRequestMessage NewRequest() => new(HttpMethod.Get, ArtifactUri);

    [GeneratedRegex(@"^bytes=(\d+)-(\d*)$")]
    private static partial Regex RangePattern();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                await ServeAsync(context);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The client went away; the next request comes on a new connection.
            }
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        var range = context.Request.Headers["Range"] ?? "";
        lock (Ranges)
        {
            Ranges.Add(range);
        }

        if (Gate is { } gate)
        {
            await gate.Task;
        }

        var response = context.Response;
        if (context.Request.Url!.AbsolutePath != ArtifactUri.AbsolutePath)
        {
            response.StatusCode = 404;
            response.Close();
            return;
        }

        var content = Content;
        long from = 0;
        var to = content.Length - 1L;
        if (RangePattern().Match(range) is { Success: true } match)
        {
            from = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            if (match.Groups[2].Length > 0)
            {
                to = Math.Min(to, long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
            }

            if (from >= content.Length)
            {
                response.StatusCode = 416;
                response.Headers["Content-Range"] = $"bytes */{content.Length}";
                response.Close();
                return;
            }

            response.StatusCode = 206;
            response.Headers["Content-Range"] = $"bytes {from}-{to}/{content.Length}";
        }

        var length = to - from + 1;
        response.ContentLength64 = length;
        response.ContentType = "application/octet-stream";
        var payload = content.AsMemory((int)from, (int)length);
        if (CorruptionsLeft > 0)
        {
            CorruptionsLeft--;
            var copy = payload.ToArray();
            copy[^1] ^= 0xff;
            payload = copy;
        }

        var cut = CutsLeft > 0;
        if (cut)
        {
            CutsLeft--;
            payload = payload[..Math.Min(CutAfterBytes, payload.Length)];
        }

        var pause = Pause;
        Pause = null;
        for (var offset = 0; offset < payload.Length; offset += 16 * 1024)
        {
            if (pause is not null && offset >= PauseAfterBytes)
            {
                await response.OutputStream.FlushAsync();
                await pause.Task;
                pause = null;
            }

            var slice = payload.Slice(offset, Math.Min(16 * 1024, payload.Length - offset));
            await response.OutputStream.WriteAsync(slice);
            Interlocked.Add(ref _bytesSent, slice.Length);
        }

        if (cut)
        {
            response.Abort();
            return;
        }

        response.Close();
    }

    public void Dispose()
    {
        Gate?.TrySetResult();
        Pause?.TrySetResult();
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(10));
    }
}
