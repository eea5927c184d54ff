using EdgeLlm.Sensors.Alerts;
using EdgeLlm.Sensors.Gpio;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Sensors;

/// <summary>The sensors piece's one registration entry point.</summary>
public static class SensorsRegistration
{
    /// <summary>
    /// Binds <see cref="SensorOptions"/> from the <c>Sensors</c> section, registers the <see cref="SensorHub"/> singleton
    /// and runs it as a hosted service. The hub takes <see cref="TimeProvider"/>, <see cref="IAlertPublisher"/> and
    /// <see cref="IGpioInputs"/> from the container when registered (defaults: the system clock, alerts logged only,
    /// System.Device.Gpio). A bad setting fails at start with a <see cref="SensorConfigException"/> naming the field.
    /// </summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="databasePath">The store's file, normally <c>{data dir}/agent.db</c>.</param>
    public static IHostApplicationBuilder AddEdgeSensors(this IHostApplicationBuilder builder, Func<IServiceProvider, string> databasePath)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new SensorOptions();
        builder.Configuration.GetSection("Sensors").Bind(options);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp => new SensorHub(
            options,
            databasePath(sp),
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<IAlertPublisher>(),
            sp.GetService<IGpioInputs>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SensorHub>());
        return builder;
    }
}
