using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EdgeLlm.Agent.Tests.Fleet;

/// <summary>One HTTP request the fake server received.</summary>
internal sealed record ReceivedRequest(string Method, string Path, string? Authorization, string? IfNoneMatch, string Body);

/// <summary>What the fake server answers.</summary>
internal sealed record FakeResponse(int Status, string Body = "", IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>
/// A real HTTP endpoint on loopback (HttpListener) standing in for the fleet server where the test needs its failure
/// modes: every request is recorded, and <see cref="Handler"/> decides the answer.
/// </summary>
internal sealed class FakeFleetServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public FakeFleetServer()
    {
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string BaseUri => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>Default: 200 with an empty telemetry ack.</summary>
    public Func<ReceivedRequest, FakeResponse> Handler { get; set; } = _ => new FakeResponse(200, """{"accepted":0,"duplicates":0}""");

    /// <summary>Every request body so far, joined.</summary>
    public string AllBodies => string.Join("\n", Requests.Select(r => r.Body));

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

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

            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var received = new ReceivedRequest(context.Request.HttpMethod, context.Request.Url!.AbsolutePath,
                context.Request.Headers["Authorization"], context.Request.Headers["If-None-Match"], await reader.ReadToEndAsync());
            Requests.Enqueue(received);
            var answer = Handler(received);
            context.Response.StatusCode = answer.Status;
            foreach (var (k, v) in answer.Headers ?? new Dictionary<string, string>())
            {
                context.Response.Headers[k] = v;
            }

            var bytes = Encoding.UTF8.GetBytes(answer.Body);
            if (answer.Status != 304 && answer.Status != 204)
            {
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(bytes);
            }

            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(10));
    }
}
