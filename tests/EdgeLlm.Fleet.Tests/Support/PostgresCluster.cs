using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace EdgeLlm.Fleet.Tests.Support;

/// <summary>
/// A throw-away PostgreSQL cluster from Debian's packages (<c>/usr/lib/postgresql/*/bin</c>): initdb in a fresh temp
/// folder, the server on a free loopback port with its unix socket in that folder, trust authentication, durability
/// off (tests only). PostgreSQL refuses to run as root, so as root the binaries run as the <c>postgres</c> user
/// (<c>runuser</c>) on a folder owned by it. Disposing stops the server by its PID and deletes the folder.
/// </summary>
internal sealed partial class PostgresCluster : IAsyncDisposable
{
    private const string FolderPrefix = "edgellm-pg-";
    private const string SuperUser = "postgres";
    private const int Sigint = 2;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly string _root;
    private readonly Process _server;
    private readonly StringBuilder _output;
    private bool _disposed;

    private PostgresCluster(string root, int port, Process server, int pid, StringBuilder output)
    {
        _root = root;
        Port = port;
        _server = server;
        Pid = pid;
        _output = output;
    }

    public int Port { get; }

    /// <summary>The postmaster's PID (from <c>postmaster.pid</c>; under runuser it is not the child's own PID).</summary>
    public int Pid { get; }

    /// <summary>Everything the server wrote so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    public static async Task<PostgresCluster> StartAsync(CancellationToken cancellationToken)
    {
        var bin = FindBinDir();
        RemoveStaleFolders();
        var root = Path.Combine(Path.GetTempPath(), FolderPrefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        try
        {
            if (IsRoot)
            {
                await RunAsync("chown", ["postgres:postgres", root], asPostgres: false, cancellationToken);
            }

            var data = Path.Combine(root, "data");
            await RunAsync(
                Path.Combine(bin, "initdb"),
                ["-D", data, "-U", SuperUser, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
                asPostgres: IsRoot,
                cancellationToken);

            // The free port may be taken between probing and binding: try a few.
            Exception? last = null;
            for (var attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    return await StartServerAsync(bin, root, data, FreePort(), cancellationToken);
                }
                catch (InvalidOperationException e)
                {
                    last = e;
                }
            }

            throw new InvalidOperationException("PostgreSQL did not start.", last);
        }
        catch
        {
            TryDelete(root);
            throw;
        }
    }

    /// <summary>An Npgsql connection string for <paramref name="database"/> on this cluster.</summary>
    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = SuperUser,
        IncludeErrorDetail = true,
        MaxPoolSize = 200,
    }.ConnectionString;

    /// <summary>Creates an empty database (dropping one left with that name) and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name, CancellationToken cancellationToken)
    {
        if (!DatabaseName().IsMatch(name))
        {
            throw new ArgumentException($"Database name '{name}' must be lower-case letters, digits and '_' (at most 63).", nameof(name));
        }

        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken);
        foreach (var sql in new[] { $"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", $"CREATE DATABASE \"{name}\" STRATEGY FILE_COPY" })
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        return ConnectionString(name);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (!_server.HasExited)
            {
                // SIGINT is PostgreSQL's fast shutdown: sessions are ended, the server exits cleanly.
                _ = Kill(Pid, Sigint);
                using var timeout = new CancellationTokenSource(StopTimeout);
                try
                {
                    await _server.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    KillByPid(Pid);
                    KillByPid(_server.Id);
                }
            }
        }
        finally
        {
            _server.Dispose();
            TryDelete(_root);
        }
    }

    private static async Task<PostgresCluster> StartServerAsync(string bin, string root, string data, int port, CancellationToken cancellationToken)
    {
        var output = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = StartInfo(Path.Combine(bin, "postgres"), [
            "-D", data,
            "-p", port.ToString(CultureInfo.InvariantCulture),
            "-k", root,
            "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=300",
            "-c", "shared_buffers=128MB",
        ], IsRoot), EnableRaisingEvents = true };
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }

            if (line.Contains("ready to accept connections", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("PostgreSQL exited while starting."));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(StartTimeout, cancellationToken);
            var pid = ReadPostmasterPid(data);
            return new PostgresCluster(root, port, process, pid, output);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            if (!process.HasExited)
            {
                if (File.Exists(Path.Combine(data, "postmaster.pid")))
                {
                    KillByPid(ReadPostmasterPid(data));
                }

                KillByPid(process.Id);
            }

            string text;
            lock (output)
            {
                text = output.ToString();
            }

            process.Dispose();
            throw new InvalidOperationException($"PostgreSQL did not start on port {port}: {e.Message}\n{text}", e);
        }
    }

    private static int ReadPostmasterPid(string data)
    {
        var first = File.ReadLines(Path.Combine(data, "postmaster.pid")).First();
        return int.Parse(first.Trim(), CultureInfo.InvariantCulture);
    }

    private static ProcessStartInfo StartInfo(string file, IReadOnlyList<string> args, bool asPostgres)
    {
        var info = new ProcessStartInfo
        {
            FileName = asPostgres ? "runuser" : file,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", file })
            {
                info.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // The server's messages are matched on ("ready to accept connections"): keep them in English.
        info.Environment["LC_ALL"] = "C";
        info.Environment["LANG"] = "C";
        return info;
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> args, bool asPostgres, CancellationToken cancellationToken)
    {
        using var process = Process.Start(StartInfo(file, args, asPostgres))
            ?? throw new InvalidOperationException($"Cannot start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{file} {string.Join(' ', args)} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        }
    }

    private static string FindBinDir()
    {
        const string Base = "/usr/lib/postgresql";
        var found = Directory.Exists(Base)
            ? Directory.GetDirectories(Base)
                .Where(d => File.Exists(Path.Combine(d, "bin", "initdb")) && File.Exists(Path.Combine(d, "bin", "postgres")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), CultureInfo.InvariantCulture, out var v) ? v : 0)
                .FirstOrDefault()
            : null;
        return found is null
            ? throw new InvalidOperationException("PostgreSQL is not installed: run `make test-deps` (apt-get install postgresql).")
            : Path.Combine(found, "bin");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Removes clusters left by killed test runs: folders older than an hour whose postmaster is not running.</summary>
    private static void RemoveStaleFolders()
    {
        var cutoff = TimeProvider.System.GetUtcNow().UtcDateTime.AddHours(-1);
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            try
            {
                if (Directory.GetLastWriteTimeUtc(dir) > cutoff)
                {
                    continue;
                }

                var pidFile = Path.Combine(dir, "data", "postmaster.pid");
                if (File.Exists(pidFile) && IsAlive(ReadPostmasterPid(Path.Combine(dir, "data"))))
                {
                    continue;
                }

                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException)
            {
                // Another run's folder or one being written: leave it.
            }
        }
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");

    private static void KillByPid(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Never mask a test's own failure; a stale folder is removed by the next run.
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex DatabaseName();
}

/// <summary>
/// One PostgreSQL cluster shared by every test class of the <c>postgres</c> collection. Public because xunit only finds
/// public collection definitions and fixtures.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresCluster? _cluster;

    internal PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("The PostgreSQL fixture is not started.");

    public async Task InitializeAsync() => _cluster = await PostgresCluster.StartAsync(CancellationToken.None);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresClusterDefinition : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
