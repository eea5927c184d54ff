using EdgeLlm.Runtime.Tests.Providers;
using EdgeLlm.Sensors.Catalog;
using EdgeLlm.Sensors.Ingestion;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Sensors.Tests;

/// <summary>A validating sink over a catalog that keeps accepted readings in a list, with a log that remembers levels.</summary>
internal sealed class Gate
{
    public Gate(SensorOptions options, FakeTimeProvider? time = null)
    {
        Time = time ?? new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        Catalog = SensorCatalog.Build(options, [], out _);
        Rejections = new RejectionCounters(Log);
        Sink = new ReadingGate(Catalog.ById, options, Time, Rejections, r =>
        {
            Accepted.Add(r);
            return true;
        });
    }

    public FakeTimeProvider Time { get; }

    public SensorCatalog Catalog { get; }

    public ListLogger Log { get; } = new();

    public RejectionCounters Rejections { get; }

    public ReadingGate Sink { get; }

    public List<SensorReading> Accepted { get; } = [];
}
