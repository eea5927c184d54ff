using System.Diagnostics.Metrics;
using EdgeLlm.Agent.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace EdgeLlm.Agent.Tests.Metrics;

public sealed class MetricsCollectorTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    /// <summary>A meter of the agent's name, distinct from every other (as each agent's own is).</summary>
    private static Meter NewMeter() => new(AgentMetrics.MeterName);

    public void Dispose() => _services.Dispose();

    private static MetricFamily Family(MetricsCollector c, string name) => Assert.Single(c.Collect(), f => f.Name == name);

    private static MetricSeries Series(MetricFamily f, params (string Key, string Value)[] labels) =>
        Assert.Single(f.Series, s => s.Labels.SequenceEqual(labels.Select(l => KeyValuePair.Create(l.Key, l.Value))));

    [Fact]
    public async Task Counters_and_histograms_recorded_from_many_threads_add_up_exactly()
    {
        using var meter = NewMeter();
        using var collector = new MetricsCollector(meter);
        var counter = meter.CreateCounter<long>("c");
        var histogram = meter.CreateHistogram("h", "s", null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 10] });
        const int threads = 8, each = 20_000;

        using var go = new Barrier(threads);
        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
        {
            go.SignalAndWait();
            for (var i = 0; i < each; i++)
            {
                counter.Add(1, new KeyValuePair<string, object?>("priority", t % 2 == 0 ? "operator" : "automation"));
                histogram.Record(i % 3 == 0 ? 0.5 : i % 3 == 1 ? 5 : 50);
                if (i % 1000 == 0)
                {
                    _ = collector.Collect(); // Scrapes while recording must neither lose nor tear values.
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));

        var c = Family(collector, "c");
        Assert.Equal(MetricKind.Counter, c.Kind);
        Assert.Equal(threads / 2 * each, Series(c, ("priority", "operator")).Value);
        Assert.Equal(threads / 2 * each, Series(c, ("priority", "automation")).Value);
        var h = Series(Family(collector, "h"));
        Assert.Equal(threads * each, h.Count);
        Assert.Equal([1.0, 10.0], h.Bounds);
        Assert.Equal(new[] { 0, 1, 2 }.Select(r => (long)Enumerable.Range(0, each).Count(i => i % 3 == r) * threads), h.BucketCounts);
        var expectedSum = Enumerable.Range(0, each).Sum(i => i % 3 == 0 ? 0.5 : i % 3 == 1 ? 5 : 50) * threads;
        Assert.Equal(expectedSum, h.Sum, 6);
    }

    [Fact]
    public void Bucket_bounds_are_inclusive_upper_limits()
    {
        using var meter = NewMeter();
        using var collector = new MetricsCollector(meter);
        var histogram = meter.CreateHistogram("h", "s", null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 1] });
        foreach (var v in new[] { 0.001, 0.005, 0.0051, 1, 2, double.NaN })
        {
            histogram.Record(v);
        }

        var h = Series(Family(collector, "h"));
        Assert.Equal([2L, 2, 1], h.BucketCounts);
        Assert.Equal(5, h.Count);
    }

    [Fact]
    public void Histogram_without_advice_uses_the_default_buckets()
    {
        using var meter = NewMeter();
        using var collector = new MetricsCollector(meter);
        meter.CreateHistogram<double>("h").Record(3);

        Assert.Equal(MetricsCollector.DefaultBuckets, Series(Family(collector, "h")).Bounds);
    }

    [Fact]
    public void Observable_instruments_report_their_latest_value_at_each_collect()
    {
        using var meter = NewMeter();
        using var collector = new MetricsCollector(meter);
        long total = 5;
        var depth = 2.0;
        meter.CreateObservableCounter("oc", () => total);
        meter.CreateObservableGauge("og", () => depth);
        var upDown = meter.CreateUpDownCounter<int>("ud");
        upDown.Add(3);
        upDown.Add(-1);

        Assert.Equal(5, Series(Family(collector, "oc")).Value);
        Assert.Equal(MetricKind.Counter, Family(collector, "oc").Kind);
        Assert.Equal(2, Series(Family(collector, "og")).Value);
        Assert.Equal(MetricKind.Gauge, Family(collector, "ud").Kind);
        Assert.Equal(2, Series(Family(collector, "ud")).Value);
        (total, depth) = (9, 0);
        Assert.Equal(9, Series(Family(collector, "oc")).Value);
        Assert.Equal(0, Series(Family(collector, "og")).Value);
    }

    [Fact]
    public void A_failing_callback_leaves_the_other_metrics_in_the_scrape()
    {
        using var meter = NewMeter();
        using var collector = new MetricsCollector(meter);
        meter.CreateObservableGauge("bad", double () => throw new InvalidOperationException("gone"));
        meter.CreateObservableGauge("good", () => 1.0);

        Assert.Equal(1, Series(Family(collector, "good")).Value);
    }

    [Fact]
    public void Another_meter_of_the_same_name_is_not_collected()
    {
        using var mine = NewMeter();
        using var other = NewMeter();
        using var collector = new MetricsCollector(mine);
        mine.CreateCounter<long>("c").Add(1);
        other.CreateCounter<long>("c").Add(100);

        Assert.Equal(1, Series(Family(collector, "c")).Value);
    }

    [Fact]
    public void Label_sets_beyond_the_cap_are_dropped_and_negative_counter_adds_ignored()
    {
        using var meter = NewMeter();
        using var collector = new MetricsCollector(meter);
        var counter = meter.CreateCounter<long>("c");
        for (var i = 0; i < MetricsCollector.MaxSeriesPerInstrument + 50; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>("k", i));
        }

        counter.Add(-5, new KeyValuePair<string, object?>("k", 0));

        var c = Family(collector, "c");
        Assert.Equal(MetricsCollector.MaxSeriesPerInstrument, c.Series.Count);
        Assert.Equal(1, Series(c, ("k", "0")).Value);
    }

    [Fact]
    public void Agent_metrics_record_questions_with_bounded_labels_and_answers_into_seconds()
    {
        using var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new AgentMetrics(meters.GetRequiredService<IMeterFactory>(), TimeProvider.System);
        using var collector = new MetricsCollector(metrics.Meter);

        metrics.Question(Runtime.Scheduling.RequestPriority.Automation, QuestionOutcomes.Answered);
        metrics.Answered(Runtime.Scheduling.RequestPriority.Automation, TimeSpan.FromMilliseconds(1500), 40, 12, 250, 30);
        metrics.Answered(Runtime.Scheduling.RequestPriority.Operator, TimeSpan.FromMilliseconds(20), 0, 0, 0, 0);
        var text = PrometheusText.Write(collector.Collect());

        Assert.Contains("edgellm_questions_total{outcome=\"answered\",priority=\"automation\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_answer_duration_seconds_bucket{priority=\"automation\",le=\"1\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_answer_duration_seconds_bucket{priority=\"automation\",le=\"2.5\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_answer_duration_seconds_sum{priority=\"automation\"} 1.5\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_answer_duration_seconds_count{priority=\"operator\"} 1\n", text, StringComparison.Ordinal);
        // The retrieval-only answer (no tokens) counts in the duration only.
        Assert.Contains("edgellm_tokens_prompt_total 40\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_tokens_completion_total 12\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_answer_time_to_first_token_seconds_sum 0.25\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_decode_rate_tokens_per_second_bucket{le=\"50\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("edgellm_decode_rate_tokens_per_second_count 1\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE edgellm_agent_uptime_seconds gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE process_resident_memory_bytes gauge\n", text, StringComparison.Ordinal);
    }
}
