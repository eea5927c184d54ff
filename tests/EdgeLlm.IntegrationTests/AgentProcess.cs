using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests;

/// <summary>`edgellm agent` (the real executable) as a child process, with a systemd notify socket it reports to.</summary>
internal sealed class AgentProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly TempDir _dir;

    private AgentProcess(Process process, TempDir dir, Socket notify)
    {
        _process = process;
        _dir = dir;
        Notify = notify;
    }

    /// <summary>The datagram socket bound at NOTIFY_SOCKET.</summary>
    public Socket Notify { get; }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public int Pid => _process.Id;

    public static AgentProcess Start(IEnumerable<string> args, Dictionary<string, string>? env = null)
    {
        var dir = TestPaths.NewTempDir();
        var socketPath = Path.Combine(dir.Path, "notify.sock");
        var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "device", "edgellm.dll"));
        psi.ArgumentList.Add("agent");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NOTIFY_SOCKET"] = socketPath;
        foreach (var (k, v) in env ?? [])
        {
            psi.Environment[k] = v;
        }

        var process = Process.Start(psi)!;
        var agent = new AgentProcess(process, dir, notify);
        process.ErrorDataReceived += (_, e) =>
        {
            lock (agent._stderr)
            {
                agent._stderr.AppendLine(e.Data);
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return agent;
    }

    /// <summary>The next notify datagram (e.g. "READY=1"), or null once <paramref name="wait"/> passes without one.</summary>
    public async Task<string?> NextNotificationAsync(TimeSpan? wait = null)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(wait ?? TestModels.Patience);
        try
        {
            var n = await Notify.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Sends SIGTERM, as systemd does on stop.</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    public async Task<int> WaitForExitAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public void Kill() => _process.Kill(entireProcessTree: true);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Notify.Dispose();
        _dir.Dispose();
    }
}
