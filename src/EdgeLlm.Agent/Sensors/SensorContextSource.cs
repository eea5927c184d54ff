using System.Globalization;
using EdgeLlm.Agent.Queries;
using EdgeLlm.Contracts.Mqtt;
using EdgeLlm.Sensors;

namespace EdgeLlm.Agent.Sensors;

/// <summary>
/// Sensor readings for questions in <c>auto</c> and <c>sensors</c> mode: the sensors the question names (id, name or
/// alias, typos tolerated) get one summary line each over the last <see cref="Window"/>; in <c>sensors</c> mode a
/// question naming none gets the first <see cref="MaxUnnamed"/> sensors. Each sensor with a stored reading is
/// reported in the answer's <c>sensors</c> with its latest value.
/// </summary>
internal sealed class SensorContextSource(SensorHub hub) : IContextSource
{
    /// <summary>The span the prompt summary covers.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromHours(1);

    /// <summary>Sensors summarized in <c>sensors</c> mode when the question names none (a prompt has little room).</summary>
    public const int MaxUnnamed = 8;

    public Task<ContextContribution> GetAsync(QueryContext query, CancellationToken cancellationToken)
    {
        if (query.Mode is not (AskModes.Auto or AskModes.Sensors))
        {
            return Task.FromResult(ContextContribution.Empty);
        }

        IReadOnlyList<SensorDefinition> sensors = hub.Catalog.FindMentioned(query.Question);
        if (sensors.Count == 0 && query.Mode == AskModes.Sensors)
        {
            sensors = [.. hub.Catalog.Sensors.Take(MaxUnnamed)];
        }

        if (sensors.Count == 0)
        {
            return Task.FromResult(ContextContribution.Empty);
        }

        var summary = hub.Summarize(sensors, Window).TrimEnd('\n');
        var used = sensors
            .Select(s => (Sensor: s, Latest: hub.Store.Latest(s.Id)))
            .Where(x => x.Latest is not null)
            .Select(x => new SensorUse
            {
                Id = x.Sensor.Id,
                Value = x.Latest!.Value.Value,
                Unit = x.Sensor.Unit.Length == 0 ? null : x.Sensor.Unit,
                Ts = x.Latest.Value.Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            })
            .ToList();
        return Task.FromResult(new ContextContribution(["Sensors:\n" + summary], [], used));
    }
}
