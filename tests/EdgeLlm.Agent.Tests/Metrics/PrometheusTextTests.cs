using EdgeLlm.Agent.Metrics;

namespace EdgeLlm.Agent.Tests.Metrics;

public sealed class PrometheusTextTests
{
    private static KeyValuePair<string, string>[] L(params (string Key, string Value)[] labels) => [.. labels.Select(l => KeyValuePair.Create(l.Key, l.Value))];

    [Fact]
    public void Counter_gets_total_suffix_help_type_and_sorted_series()
    {
        var family = new MetricFamily("edgellm.questions", "{question}", "Questions received.", MetricKind.Counter,
        [
            new MetricSeries(L(("outcome", "failed"), ("priority", "operator")), 2),
            new MetricSeries(L(("outcome", "answered"), ("priority", "operator")), 5),
        ]);

        Assert.Equal(
            "# HELP edgellm_questions_total Questions received.\n" +
            "# TYPE edgellm_questions_total counter\n" +
            "edgellm_questions_total{outcome=\"answered\",priority=\"operator\"} 5\n" +
            "edgellm_questions_total{outcome=\"failed\",priority=\"operator\"} 2\n",
            PrometheusText.Write([family]));
    }

    [Fact]
    public void Gauge_without_labels_and_with_a_unit_suffix()
    {
        var family = new MetricFamily("process.resident_memory", "By", "Resident memory.", MetricKind.Gauge, [new MetricSeries([], 123456789)]);

        Assert.Equal(
            "# HELP process_resident_memory_bytes Resident memory.\n" +
            "# TYPE process_resident_memory_bytes gauge\n" +
            "process_resident_memory_bytes 123456789\n",
            PrometheusText.Write([family]));
    }

    [Fact]
    public void Histogram_buckets_are_cumulative_up_to_inf_with_sum_and_count()
    {
        var family = new MetricFamily("edgellm.answer.duration", "s", "Answer time.", MetricKind.Histogram,
            [new MetricSeries(L(("priority", "automation")), 0, [0.005, 0.5, 10], [1, 0, 2, 1], 42.25, 4)]);

        Assert.Equal(
            "# HELP edgellm_answer_duration_seconds Answer time.\n" +
            "# TYPE edgellm_answer_duration_seconds histogram\n" +
            "edgellm_answer_duration_seconds_bucket{priority=\"automation\",le=\"0.005\"} 1\n" +
            "edgellm_answer_duration_seconds_bucket{priority=\"automation\",le=\"0.5\"} 1\n" +
            "edgellm_answer_duration_seconds_bucket{priority=\"automation\",le=\"10\"} 3\n" +
            "edgellm_answer_duration_seconds_bucket{priority=\"automation\",le=\"+Inf\"} 4\n" +
            "edgellm_answer_duration_seconds_sum{priority=\"automation\"} 42.25\n" +
            "edgellm_answer_duration_seconds_count{priority=\"automation\"} 4\n",
            PrometheusText.Write([family]));
    }

    [Fact]
    public void Histogram_without_labels_has_only_le()
    {
        var family = new MetricFamily("edgellm.decode.rate", "{token}/s", "Speed.", MetricKind.Histogram, [new MetricSeries([], 0, [1], [0, 1], 7.5, 1)]);

        Assert.Equal(
            "# HELP edgellm_decode_rate_tokens_per_second Speed.\n" +
            "# TYPE edgellm_decode_rate_tokens_per_second histogram\n" +
            "edgellm_decode_rate_tokens_per_second_bucket{le=\"1\"} 0\n" +
            "edgellm_decode_rate_tokens_per_second_bucket{le=\"+Inf\"} 1\n" +
            "edgellm_decode_rate_tokens_per_second_sum 7.5\n" +
            "edgellm_decode_rate_tokens_per_second_count 1\n",
            PrometheusText.Write([family]));
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline_and_help_escapes_backslash_and_newline()
    {
        var family = new MetricFamily("x", "", "a \\ b\nc \"q\"", MetricKind.Gauge, [new MetricSeries(L(("path", "C:\\dir \"x\"\nnext")), 1)]);

        Assert.Equal(
            "# HELP x a \\\\ b\\nc \"q\"\n" +
            "# TYPE x gauge\n" +
            "x{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1\n",
            PrometheusText.Write([family]));
    }

    [Theory]
    [InlineData("edgellm.questions", "{question}", "Counter", "edgellm_questions_total")]
    [InlineData("requests_total", "", "Counter", "requests_total")]
    [InlineData("9lives-cat/ü", "", "Gauge", "_9lives_cat__")]
    [InlineData("ns:sub.metric", "s", "Gauge", "ns:sub_metric_seconds")]
    [InlineData("wait_seconds", "s", "Histogram", "wait_seconds")]
    [InlineData("download", "By", "Counter", "download_bytes_total")]
    [InlineData("odd", "m/s²", "Gauge", "odd_m_s_")]
    [InlineData("", "", "Gauge", "_")]
    public void Names_are_sanitized_and_suffixed(string name, string unit, string kind, string expected)
    {
        Assert.Equal(expected, PrometheusText.MetricName(name, unit, Enum.Parse<MetricKind>(kind)));
    }

    [Fact]
    public void Label_names_are_sanitized_without_colons()
    {
        var family = new MetricFamily("x", "", "h", MetricKind.Gauge, [new MetricSeries(L(("a:b-c", "v"), ("1st", "w")), 1)]);

        Assert.EndsWith("x{a_b_c=\"v\",_1st=\"w\"} 1\n", PrometheusText.Write([family]), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(0.1, "0.1")]
    [InlineData(-3.0, "-3")]
    [InlineData(1e-7, "1E-07")]
    public void Numbers_use_prometheus_spellings(double value, string expected)
    {
        Assert.Equal(expected, PrometheusText.Number(value));
    }
}
