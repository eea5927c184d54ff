using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Storage;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Hosting;

/// <summary>A start-up problem with one clear message (exit code 1).</summary>
internal sealed class FleetStartupException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Before the server listens: runs the store's migrations and, on a store without API keys, creates the first admin
/// key from EDGELLM_FLEET_ADMIN_KEY or generates one and prints it once on stdout.
/// </summary>
internal sealed class FleetStoreInitializer(
    IFleetStore store,
    IOptions<FleetOptions> options,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<FleetStoreInitializer> logger) : IHostedLifecycleService
{
    public const string AdminKeyVariable = "EDGELLM_FLEET_ADMIN_KEY";
    public const string BootstrapKeyName = "admin";

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.MigrateAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new FleetStartupException($"cannot open the fleet store ({Describe()}): {ex.Message}", ex);
        }

        Log.StoreReady(logger, Describe());
        var fromEnvironment = configuration[AdminKeyVariable];
        if (await store.AnyApiKeyAsync(cancellationToken))
        {
            if (!string.IsNullOrEmpty(fromEnvironment))
            {
                Log.AdminKeyIgnored(logger);
            }

            return;
        }

        string key;
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            if (!Secrets.IsStrongAdminKey(fromEnvironment))
            {
                throw new FleetStartupException(
                    $"{AdminKeyVariable} is not a usable admin key: it must be 'eak_' followed by at least 43 base64url characters " +
                    "(32 random bytes), e.g. from `echo eak_$(head -c32 /dev/urandom | basenc --base64url | tr -d =)`");
            }

            key = fromEnvironment;
        }
        else
        {
            key = Secrets.NewAdminKey();
        }

        await store.CreateApiKeyAsync(
            new ApiKeyRecord(Secrets.NewId("key_"), BootstrapKeyName, Contracts.Fleet.FleetRoles.Admin, Secrets.Hash(key), time.GetUtcNow(), Revoked: false),
            cancellationToken);
        if (key == fromEnvironment)
        {
            Log.AdminKeyFromEnvironment(logger, BootstrapKeyName);
        }
        else
        {
            // The one time the key is shown: stdout, where logs never go.
            await Console.Out.WriteLineAsync($"admin key: {key}".AsMemory(), cancellationToken);
            await Console.Out.FlushAsync(cancellationToken);
            Log.AdminKeyGenerated(logger, BootstrapKeyName);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private string Describe() => options.Value.Postgres is null
        ? $"SQLite in {Path.GetFullPath(options.Value.DataDir)}"
        : "PostgreSQL";
}
