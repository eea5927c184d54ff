using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace EdgeLlm.Cli.Tests;

/// <summary>Runs the real `edgellm` executable (built next to the tests) as a child process.</summary>
internal static class Cli
{
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "edgellm.dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}

internal sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public JsonElement Json()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}: {Stderr}");
        using var doc = JsonDocument.Parse(Stdout);
        return doc.RootElement.Clone();
    }
}
