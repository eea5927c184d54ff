using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace EdgeLlm.Fleet.Tests.Support;

/// <summary>How to start the real <c>edgellm-fleet</c>: exactly one of <see cref="DataDir"/> (SQLite) and <see cref="Postgres"/>.</summary>
internal sealed record FleetServerStart
{
    /// <summary>The SQLite data folder (<c>--data-dir</c>).</summary>
    public string? DataDir { get; init; }

    /// <summary>An Npgsql connection string (<c>--postgres</c>).</summary>
    public string? Postgres { get; init; }

    /// <summary>The first admin key, passed as EDGELLM_FLEET_ADMIN_KEY. Default: a fresh random one.</summary>
    public string? AdminKey { get; init; }

    /// <summary>
    /// False: EDGELLM_FLEET_ADMIN_KEY is not set, so the server generates the key and prints it; <see cref="FleetServerProcess.AdminKey"/>
    /// is then read from stdout (empty when the store already had a key). Default true.
    /// </summary>
    public bool PassAdminKey { get; init; } = true;

    /// <summary>Further arguments (e.g. <c>--Fleet:RateLimitPerMinute=5</c>).</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>Further environment variables for the child.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>How long to wait for /healthz. Default 60 s.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The real fleet server as a child process (<c>dotnet edgellm-fleet.dll</c> from the test's output folder) on a free
/// loopback port. Stdout and stderr are captured for failure messages. Killed by its PID only.
/// </summary>
internal sealed partial class FleetServerProcess : IAsyncDisposable
{
    private const string AdminKeyLine = "admin key: ";
    private readonly FleetServerStart _start;
    private readonly StringBuilder _output = new();
    private readonly Lock _outputLock = new();
    private readonly List<string> _stdout = [];
    private Process? _process;

    private FleetServerProcess(FleetServerStart start, int port, string adminKey)
    {
        _start = start;
        Port = port;
        BaseUri = new Uri($"http://127.0.0.1:{port}");
        AdminKey = adminKey;
    }

    public int Port { get; }

    public Uri BaseUri { get; }

    /// <summary>The admin key the server accepts (passed in, or read from its first-start stdout).</summary>
    public string AdminKey { get; private set; }

    /// <summary>The running child's PID (0 when not running).</summary>
    public int Pid => _process is { HasExited: false } p ? p.Id : 0;

    /// <summary>Everything the child wrote, over every start, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_outputLock)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Only stdout lines (no logs go there: the server logs on stderr).</summary>
    public IReadOnlyList<string> StdoutLines
    {
        get
        {
            lock (_outputLock)
            {
                return [.. _stdout];
            }
        }
    }

    public static async Task<FleetServerProcess> StartAsync(FleetServerStart options, CancellationToken cancellationToken)
    {
        if ((options.DataDir is null) == (options.Postgres is null))
        {
            throw new ArgumentException("Give exactly one of DataDir and Postgres.", nameof(options));
        }

        var key = options.PassAdminKey ? options.AdminKey ?? NewAdminKey() : "";
        var server = new FleetServerProcess(options, FreePort(), key);
        await server.LaunchAsync(cancellationToken);
        return server;
    }

    /// <summary>A fresh, well-formed admin key: <c>eak_</c> + base64url(32 random bytes).</summary>
    public static string NewAdminKey() => "eak_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>A free loopback TCP port (the OS picks it).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>SIGKILL, like a crash or a power cut; waits until the process is gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: false);
            await WaitForExitAsync(p, TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>SIGTERM (a graceful stop); SIGKILL if it is not gone within 30 s.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            _ = SendSignal(p.Id, 15);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await p.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: false);
                await WaitForExitAsync(p, TimeSpan.FromSeconds(30));
            }
        }
    }

    /// <summary>Starts the server again on the same port and store (after <see cref="KillAsync"/> or <see cref="StopAsync"/>).</summary>
    public async Task RestartAsync(CancellationToken cancellationToken)
    {
        await KillAsync();
        await LaunchAsync(cancellationToken);
    }

    /// <summary>The exit code of the last run, once it has exited.</summary>
    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    /// <summary>
    /// Runs <c>edgellm-fleet</c> with these arguments to completion (bounded by <paramref name="timeout"/>) and
    /// returns its exit code and output: for start-up failures such as a malformed admin key.
    /// </summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(
        IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        using var process = new Process { StartInfo = StartInfo(args, environment) };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await WaitForExitAsync(process, timeout);
        return (process.ExitCode, await stdout, await stderr);
    }

    private async Task LaunchAsync(CancellationToken cancellationToken)
    {
        _process?.Dispose();
        var args = new List<string> { "--urls", BaseUri.ToString().TrimEnd('/') };
        if (_start.DataDir is not null)
        {
            args.AddRange(["--data-dir", _start.DataDir]);
        }
        else
        {
            args.AddRange(["--postgres", _start.Postgres!]);
        }

        args.AddRange(_start.ExtraArgs);
        var env = new Dictionary<string, string>(_start.Environment);
        if (_start.PassAdminKey)
        {
            env["EDGELLM_FLEET_ADMIN_KEY"] = AdminKey;
        }

        var process = new Process { StartInfo = StartInfo(args, env), EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Capture(e.Data, stdout: true);
        process.ErrorDataReceived += (_, e) => Capture(e.Data, stdout: false);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await WaitHealthyAsync(process, cancellationToken);
    }

    private static ProcessStartInfo StartInfo(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "edgellm-fleet.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"'{dll}' is missing: the test project must reference src/EdgeLlm.Fleet.");
        }

        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // The child must not inherit the test host's ASP.NET settings or a stray admin key.
        info.Environment.Remove("ASPNETCORE_URLS");
        info.Environment.Remove("ASPNETCORE_HTTP_PORTS");
        info.Environment.Remove("EDGELLM_FLEET_ADMIN_KEY");
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        return info;
    }

    private static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    private void Capture(string? line, bool stdout)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            _output.Append(stdout ? "[out] " : "[err] ").AppendLine(line);
            if (stdout)
            {
                _stdout.Add(line);
                if (AdminKey.Length == 0 && line.StartsWith(AdminKeyLine, StringComparison.Ordinal))
                {
                    AdminKey = line[AdminKeyLine.Length..].Trim();
                }
            }
        }
    }

    private async Task WaitHealthyAsync(Process process, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 2000; attempt++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"edgellm-fleet exited with code {process.ExitCode} during start-up:\n{Output}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(BaseUri, "/healthz"), cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // A single probe timed out; the overall deadline below bounds the wait.
            }

            if (deadline.Elapsed > _start.StartTimeout)
            {
                break;
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new TimeoutException($"edgellm-fleet did not answer /healthz within {_start.StartTimeout}:\n{Output}");
    }

    private static async Task WaitForExitAsync(Process process, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static int SendSignal(int pid, int signal) => Kill(pid, signal);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int sig);
}
