using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Agent.Metrics;

/// <summary>How a family is exposed: a monotonic total, a value that goes up and down, or a histogram.</summary>
internal enum MetricKind
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>One label set's values at collection time; the histogram fields are set for histograms only.</summary>
/// <param name="Labels">Label names and values, sorted by name.</param>
/// <param name="Value">The counter's total or the gauge's value.</param>
/// <param name="Bounds">Upper bounds of the finite buckets, ascending.</param>
/// <param name="BucketCounts">Measurements per bucket (not cumulative), one more than <paramref name="Bounds"/> (the last is above every bound).</param>
/// <param name="Sum">Sum of the histogram's measurements.</param>
/// <param name="Count">Number of the histogram's measurements.</param>
internal sealed record MetricSeries(
    IReadOnlyList<KeyValuePair<string, string>> Labels,
    double Value,
    IReadOnlyList<double>? Bounds = null,
    IReadOnlyList<long>? BucketCounts = null,
    double Sum = 0,
    long Count = 0);

/// <summary>An instrument's series under its own name and unit (the formatter derives the exposed name).</summary>
internal sealed record MetricFamily(string Name, string Unit, string Help, MetricKind Kind, IReadOnlyList<MetricSeries> Series);

/// <summary>
/// Aggregates the measurements of one <see cref="Meter"/> instance, as a scrape needs them: counters summed, up-down
/// counters summed as gauges, observable instruments at their last observed value (read at each <see cref="Collect"/>),
/// histograms in the explicit buckets each instrument's advice gives. Safe under concurrent recording: each series has its
/// own lock, held only for the few additions a measurement makes. At most <see cref="MaxSeriesPerInstrument"/> label sets
/// per instrument are kept; measurements with further ones are dropped, so a labelling mistake cannot eat the memory.
/// </summary>
internal sealed class MetricsCollector : IDisposable
{
    /// <summary>Label sets kept per instrument.</summary>
    public const int MaxSeriesPerInstrument = 1000;

    /// <summary>Buckets of a histogram without advice (Prometheus' own default).</summary>
    internal static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _instruments = new();
    private readonly Lock _collecting = new();
    private readonly ILogger? _logger;

    public MetricsCollector(Meter meter, ILogger? logger = null)
    {
        _logger = logger;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Only this meter object: another agent in the same process has a meter of the same name.
            if (ReferenceEquals(instrument.Meter, meter))
            {
                var state = new InstrumentState(instrument);
                _instruments[instrument] = state;
                listener.EnableMeasurementEvents(instrument, state);
            }
        };
        _listener.MeasurementsCompleted = (instrument, state) => _instruments.TryRemove(instrument, out var _);
        _listener.SetMeasurementEventCallback<long>((_, m, tags, state) => ((InstrumentState)state!).Record(m, tags));
        _listener.SetMeasurementEventCallback<int>((_, m, tags, state) => ((InstrumentState)state!).Record(m, tags));
        _listener.SetMeasurementEventCallback<double>((_, m, tags, state) => ((InstrumentState)state!).Record(m, tags));
        _listener.Start();
    }

    /// <summary>Reads the observable instruments and returns every family's current values.</summary>
    public IReadOnlyList<MetricFamily> Collect()
    {
        lock (_collecting)
        {
            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (AggregateException ex)
            {
                // One failing callback must not cost the scrape the other metrics; the failure is in the log.
                MetricsLog.ObserveFailed(_logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ex.InnerException ?? ex);
            }

            return [.. _instruments.Values.Select(s => s.Snapshot())];
        }
    }

    public void Dispose() => _listener.Dispose();

    private sealed class InstrumentState
    {
        private readonly Instrument _instrument;
        private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);
        private readonly MetricKind _kind;
        private readonly bool _observed;
        private readonly double[]? _bounds;

        public InstrumentState(Instrument instrument)
        {
            _instrument = instrument;
            var definition = instrument.GetType().IsGenericType ? instrument.GetType().GetGenericTypeDefinition() : instrument.GetType();
            _observed = instrument.IsObservable;
            _kind = definition == typeof(Counter<>) || definition == typeof(ObservableCounter<>) ? MetricKind.Counter
                : definition == typeof(Histogram<>) ? MetricKind.Histogram
                : MetricKind.Gauge;
            if (_kind == MetricKind.Histogram)
            {
                var advised = instrument switch
                {
                    Histogram<double> d => d.Advice?.HistogramBucketBoundaries,
                    Histogram<long> l => l.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                    Histogram<int> i => i.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                    _ => null,
                };
                _bounds = [.. (advised ?? DefaultBuckets).Order()];
            }
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (double.IsNaN(value) || (_kind == MetricKind.Counter && !_observed && value < 0))
            {
                return; // Nothing a counter or a bucket can hold.
            }

            var series = Find(tags);
            if (series is null)
            {
                return;
            }

            lock (series)
            {
                if (_kind == MetricKind.Histogram)
                {
                    var i = 0;
                    while (i < _bounds!.Length && value > _bounds[i])
                    {
                        i++;
                    }

                    series.Buckets![i]++;
                    series.Sum += value;
                    series.Count++;
                }
                else if (_observed)
                {
                    series.Value = value;
                }
                else
                {
                    series.Value += value;
                }
            }
        }

        public MetricFamily Snapshot()
        {
            var list = new List<MetricSeries>(_series.Count);
            foreach (var s in _series.Values)
            {
                lock (s)
                {
                    list.Add(_kind == MetricKind.Histogram
                        ? new MetricSeries(s.Labels, 0, _bounds, [.. s.Buckets!], s.Sum, s.Count)
                        : new MetricSeries(s.Labels, s.Value));
                }
            }

            return new MetricFamily(_instrument.Name, _instrument.Unit ?? "", _instrument.Description ?? "", _kind, list);
        }

        private Series? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = new KeyValuePair<string, string>[tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                labels[i] = new(tags[i].Key, Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "");
            }

            Array.Sort(labels, (a, b) => string.CompareOrdinal(a.Key, b.Key));
            var key = string.Join('\0', labels.Select(l => l.Key + "=" + l.Value));
            if (_series.TryGetValue(key, out var found))
            {
                return found;
            }

            if (_series.Count >= MaxSeriesPerInstrument)
            {
                return null;
            }

            return _series.GetOrAdd(key, _ => new Series(labels, _bounds is null ? null : new long[_bounds.Length + 1]));
        }
    }

    private sealed class Series(KeyValuePair<string, string>[] labels, long[]? buckets)
    {
        public KeyValuePair<string, string>[] Labels { get; } = labels;
        public long[]? Buckets { get; } = buckets;
        public double Value;
        public double Sum;
        public long Count;
    }
}
