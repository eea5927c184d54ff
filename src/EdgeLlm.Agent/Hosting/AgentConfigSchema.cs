using System.ComponentModel;
using System.Reflection;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Knowledge;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Knowledge;
using EdgeLlm.Sensors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Hosting;

/// <summary>One configuration section: the options classes bound from it and their validation (the same the host runs at start).</summary>
internal sealed record ConfigSection(string Name, IReadOnlyList<Type> Types, Func<IConfiguration, IEnumerable<string>> Validate);

/// <summary>
/// The agent's configuration sections, the options classes bound from each, and every validator the host runs on them
/// at start. Config bundles are checked against it: a key no options class of its section has is unknown, and a merged
/// configuration any validator refuses would stop the agent at its next start.
/// </summary>
internal static class AgentConfigSchema
{
    public static readonly IReadOnlyList<ConfigSection> Sections =
    [
        new(AgentOptions.Section, [typeof(AgentOptions)], c => Check(c, AgentOptions.Section, new AgentOptionsValidator())),
        new(BrokerOptions.Section, [typeof(BrokerOptions)], c => Check(c, BrokerOptions.Section, new BrokerOptionsValidator(), new BrokerOptionsRules())),
        new(ManualsOptions.Section, [typeof(ManualsOptions), typeof(KnowledgeOptions)],
            c => Check(c, ManualsOptions.Section, new ManualsOptionsValidator()).Concat(Check(c, ManualsOptions.Section, new KnowledgeOptionsValidator()))),
        new(FleetOptions.Section, [typeof(FleetOptions)], c => Check(c, FleetOptions.Section, new FleetOptionsValidator(), new FleetOptionsRules())),
        new(UpdateOptions.Section, [typeof(ModelUpdateOptions), typeof(UpdateOptions), typeof(UpdateCoordinatorOptions)],
            c => Check(c, UpdateOptions.Section, new ModelUpdateOptionsValidator())
                .Concat(Check(c, UpdateOptions.Section, new UpdateOptionsValidator(), new UpdateOptionsRules()))
                .Concat(Check(c, UpdateOptions.Section, new UpdateCoordinatorOptionsValidator(), new UpdateCoordinatorOptionsRules()))),
        new("Sensors", [typeof(SensorOptions)], CheckSensors),
        new(Metrics.MetricsOptions.Section, [typeof(Metrics.MetricsOptions)],
            c => Check(c, Metrics.MetricsOptions.Section, new Metrics.MetricsOptionsValidator(), new Metrics.MetricsOptionsRules())),
    ];

    public static ConfigSection? Find(string name) =>
        Sections.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Every failure of every section of <paramref name="configuration"/>, each naming its key.</summary>
    public static IReadOnlyList<string> Validate(IConfiguration configuration) => [.. Sections.SelectMany(s => s.Validate(configuration))];

    /// <summary>
    /// The member of <paramref name="types"/> that configuration key <paramref name="name"/> binds to (case-insensitive, as
    /// the binder matches), or null when none has it. A plain value needs a public setter; objects and lists may be get-only.
    /// </summary>
    public static PropertyInfo? Member(IReadOnlyList<Type> types, string name) =>
        types.SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            .FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase) && (p.SetMethod?.IsPublic == true || !IsValue(p.PropertyType)));

    /// <summary>A type the binder sets from one string (numbers, text, booleans, enums, time spans, their nullables).</summary>
    public static bool IsValue(Type type) => TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string));

    /// <summary>The element type of a list property, or null when <paramref name="type"/> is not a list.</summary>
    public static Type? ElementOf(Type type) =>
        type == typeof(string) ? null
        : type.IsArray ? type.GetElementType()
        : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];

    private static List<string> Check<T>(IConfiguration configuration, string section, params IValidateOptions<T>[] validators)
        where T : class, new()
    {
        var options = new T();
        try
        {
            configuration.GetSection(section).Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            // The binder's message names the key and the type: "Failed to convert configuration value '…' at 'Agent:MaxTokens' to type 'System.Int32'".
            return [ex.Message];
        }

        return validators.Select(v => v.Validate(Options.DefaultName, options)).Where(r => r.Failed)
            .SelectMany(r => r.Failures ?? []).Select(f => OptionsFailures.Named(section, f)).ToList();
    }

    private static List<string> CheckSensors(IConfiguration configuration)
    {
        var options = new SensorOptions();
        try
        {
            configuration.GetSection("Sensors").Bind(options);
            options.Validate("Sensors");
            return [];
        }
        catch (Exception ex) when (ex is InvalidOperationException or SensorConfigException)
        {
            return [ex.Message];
        }
    }
}
