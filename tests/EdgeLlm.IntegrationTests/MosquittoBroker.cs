using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
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

    /// <summary>The plain MQTT listener.</summary>
    public int Port { get; }

    /// <summary>The TLS listener (requires a client certificate signed by <see cref="TestCertificates.Ca"/>), or 0.</summary>
    public int TlsPort { get; private set; }

    public string Folder => _dir.Path;

    /// <summary>Starts a broker with a plain listener that allows anonymous clients, and with <paramref name="tls"/> a TLS listener.</summary>
    public static Task<MosquittoBroker> StartAsync(bool tls = false) => StartAsync(tls, null, []);

    /// <summary>
    /// Starts a broker as provisioning/mosquitto/edgellm.conf sets one up: no anonymous clients, the TLS listener takes
    /// each client certificate's common name as the user name, and <paramref name="aclFile"/> says who may do what. Every
    /// name of <paramref name="clientNames"/> gets a certificate in <see cref="Folder"/> (<c>{name}.pem</c>, <c>{name}.key</c>).
    /// The plain listener stays open (it is how the start is awaited) but refuses every client.
    /// </summary>
    public static Task<MosquittoBroker> StartWithAclAsync(string aclFile, IEnumerable<string> clientNames) => StartAsync(true, aclFile, clientNames);

    private static async Task<MosquittoBroker> StartAsync(bool tls, string? aclFile, IEnumerable<string> clientNames)
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException($"{Executable} is missing: run `make test-deps` (scripts/test-deps.sh installs the mosquitto package).");
        }

        var broker = new MosquittoBroker(TestPaths.NewTempDir(), TestModels.FreePort());
        var anonymous = aclFile is null ? "true" : "false";
        var conf = new StringBuilder($"per_listener_settings false\nallow_anonymous {anonymous}\npersistence false\nlog_dest stderr\nuser root\nlistener {broker.Port} 127.0.0.1\n");
        if (tls)
        {
            var certs = TestCertificates.Write(broker._dir.Path, clientNames);
            broker.TlsPort = TestModels.FreePort();
            conf.Append($"listener {broker.TlsPort} 127.0.0.1\ncafile {certs.Ca}\ncertfile {certs.ServerCert}\nkeyfile {certs.ServerKey}\nrequire_certificate true\n");
        }

        if (aclFile is not null)
        {
            conf.Append($"use_identity_as_username true\nacl_file {aclFile}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(broker._dir.Path, "mosquitto.conf"), conf.ToString());
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
