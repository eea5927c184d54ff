using System.Diagnostics;
using System.Net.Sockets;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.IntegrationTests;

/// <summary>A real Mosquitto 2 process (Debian's package, installed by scripts/test-deps.sh) on a free loopback port.</summary>
internal sealed class MosquittoBroker : IAsyncDisposable
{
    public const string Executable = "/usr/sbin/mosquitto";

    private readonly TempDir _dir;
    private Process? _process;

    private MosquittoBroker(TempDir dir, int port)
    {
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    public static async Task<MosquittoBroker> StartAsync()
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException($"{Executable} is missing: run `make test-deps` (scripts/test-deps.sh installs the mosquitto package).");
        }

        var broker = new MosquittoBroker(TestPaths.NewTempDir(), TestModels.FreePort());
        await File.WriteAllTextAsync(Path.Combine(broker._dir.Path, "mosquitto.conf"),
            $"listener {broker.Port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n");
        await broker.RestartAsync();
        return broker;
    }

    /// <summary>Starts the process (again, on the same port) and waits until it accepts connections.</summary>
    public async Task RestartAsync()
    {
        var psi = new ProcessStartInfo(Executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Path.Combine(_dir.Path, "mosquitto.conf"));
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, _) => { };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        using var deadline = new CancellationTokenSource(TestModels.Patience);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"mosquitto exited with {_process.ExitCode} on port {Port}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", Port, deadline.Token);
                return;
            }
            catch (SocketException)
            {
                // Not listening yet: the connect attempt itself is the wait.
                await Task.Yield();
            }
        }
    }

    /// <summary>Kills the broker process (like a crash) and waits for it to be gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await p.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _dir.Dispose();
    }
}
