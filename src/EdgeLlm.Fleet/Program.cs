using EdgeLlm.Fleet.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        try
        {
            await using var app = FleetApp.Build(args);
            await app.RunAsync();
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"edgellm-fleet: invalid configuration: {string.Join("; ", ex.Failures)}");
            return 1;
        }
        catch (FleetStartupException ex)
        {
            await Console.Error.WriteLineAsync($"edgellm-fleet: {ex.Message}");
            return 1;
        }
    }
}
