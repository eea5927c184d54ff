using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Api;
using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Bundles;
using EdgeLlm.Fleet.Dashboard;
using EdgeLlm.Fleet.Rollouts;
using EdgeLlm.Fleet.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Hosting;

/// <summary>Builds the fleet server: <c>edgellm-fleet [--urls URL] [--data-dir DIR | --postgres CONNSTRING]</c>.</summary>
internal static class FleetApp
{
    /// <summary>
    /// How far past the largest route limit the server still reads a body, to throw it away after the route's 413. A
    /// client that sends its whole body before reading (no <c>Expect: 100-continue</c>) then reads the answer instead of
    /// a broken pipe; a larger body has its connection closed, which HTTP allows.
    /// </summary>
    internal const long DrainAllowanceBytes = 1024 * 1024;

    /// <summary>Where the server listens when nothing says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    private static readonly Dictionary<string, string> Switches = new()
    {
        ["--data-dir"] = "Fleet:DataDir",
        ["--postgres"] = "Fleet:Postgres",
    };

    /// <summary>
    /// The configured application (not started). <paramref name="configureServices"/> lets tests replace services
    /// (a <c>FakeTimeProvider</c>, say) after the defaults are registered.
    /// </summary>
    public static WebApplication Build(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, Switches);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        // Logs on stderr: stdout carries only the one-time admin key line.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.AddFleet();
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseFleet();
        return app;
    }

    /// <summary>Registers the fleet server's services: options validated at start, store, API, dashboard.</summary>
    public static IHostApplicationBuilder AddFleet(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptionsWithValidateOnStart<FleetOptions>().Bind(builder.Configuration.GetSection(FleetOptions.Section));
        services.AddSingleton<IValidateOptions<FleetOptions>, FleetOptionsValidator>();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<FleetOptions>>((kestrel, fleet) =>
        {
            // The largest body any route accepts, plus room to read and throw away a refused body just over it; routes
            // enforce their own limits on top.
            kestrel.Limits.MaxRequestBodySize = Math.Max(fleet.Value.MaxTelemetryBodyBytes, fleet.Value.MaxBodyBytes) + DrainAllowanceBytes;
            kestrel.AddServerHeader = false;
        });
        services.AddSingleton(CreateStore);
        services.AddHostedService<FleetStoreInitializer>();
        services.AddSingleton<TelemetryRateLimiter>();
        services.AddSingleton<DeviceViews>();
        services.AddSingleton<DeviceApi>();
        services.AddSingleton<OperatorApi>();
        services.AddSingleton<DashboardEndpoints>();
        services.AddSingleton<FleetAuth.OperatorFilter>();
        services.AddSingleton<FleetAuth.DeviceFilter>();
        builder.AddBundleRegistry();
        builder.AddRollouts();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, FleetJsonContext.Default));
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "EdgeLLM fleet API";
            document.Info.Description = "Enrollment, telemetry, desired state and operator administration of EdgeLLM devices.";
            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>Maps every route behind the 500 handler.</summary>
    public static WebApplication UseFleet(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = HandleExceptionAsync,
            SuppressDiagnosticsCallback = _ => true,
        });
        app.UseStatusCodePages(async context =>
        {
            // Unmatched routes and methods under /api get FleetError bodies like everything else there.
            var http = context.HttpContext;
            if (http.Request.Path.StartsWithSegments(FleetRoutes.Prefix) && http.Response.ContentLength is null && !http.Response.HasStarted)
            {
                var (code, message) = http.Response.StatusCode switch
                {
                    StatusCodes.Status404NotFound => (FleetErrorCodes.NotFound, "no such route"),
                    StatusCodes.Status405MethodNotAllowed => (FleetErrorCodes.InvalidRequest, "this route does not take that method"),
                    _ => (FleetErrorCodes.InvalidRequest, "the request was refused"),
                };
                await FleetResults.WriteErrorAsync(http, http.Response.StatusCode, code, message);
            }
        });

        app.MapGet(FleetRoutes.Health, () => TypedResults.Text("ok"))
            .WithName("Health").WithSummary("Liveness").WithDescription("200 'ok' while the server runs (no authentication).");
        DeviceApi.Map(app);
        OperatorApi.Map(app);
        BundleApi.Map(app);
        RolloutApi.Map(app);
        app.MapOpenApi();
        DashboardEndpoints.Map(app);
        return app;
    }

    private static IFleetStore CreateStore(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<FleetOptions>>().Value;
        var time = services.GetRequiredService<TimeProvider>();
        if (!string.IsNullOrWhiteSpace(options.Postgres))
        {
            return new PostgresFleetStore(options.Postgres, time);
        }

        var dir = Path.GetFullPath(options.DataDir);
        Directory.CreateDirectory(dir);
        return new SqliteFleetStore(dir, time);
    }

    private static async Task HandleExceptionAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        if (error is Microsoft.AspNetCore.Http.BadHttpRequestException bad)
        {
            // Kestrel's verdict on the request itself (a body over the limit, a broken chunk): the client's fault.
            var code = bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? FleetErrorCodes.TooLarge : FleetErrorCodes.InvalidRequest;
            await FleetResults.WriteErrorAsync(context, bad.StatusCode, code, "the request could not be read");
            return;
        }

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("EdgeLlm.Fleet");
        if (error is not null)
        {
            Log.Unhandled(logger, error, context.Request.Method, context.Request.Path);
        }

        await FleetResults.WriteErrorAsync(context, StatusCodes.Status500InternalServerError, FleetErrorCodes.Internal,
            "internal error: the server log has the details");
    }
}
