using System.Text.Json;
using EdgeLlm.Agent.Fleet;
using EdgeLlm.Runtime.Tests;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Agent.Tests.Fleet;

public sealed class OutboxTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private static OutboxEntry Low(int i) => OutboxEntry.Metric(T0.AddSeconds(i), "m", i, $$"""{"pad":"{{new string('x', 200)}}"}""");

    private static OutboxEntry High(int i) => OutboxEntry.Event(T0.AddSeconds(i), "e" + i, $$"""{"pad":"{{new string('y', 200)}}"}""");

    [Fact]
    public void Batches_come_oldest_first_and_seqs_are_never_reused_even_after_reopening()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir.Path, "agent.db");
        using (var outbox = new Outbox(path, 1 << 20, new FakeTimeProvider(T0)))
        {
            outbox.Enqueue([.. Enumerable.Range(0, 10).Select(Low)]);
            var batch = outbox.ReadBatch(4);
            Assert.Equal([1L, 2, 3, 4], batch.Select(i => i.Seq));
            Assert.Equal(T0.AddSeconds(2), batch[2].Ts);
            Assert.Equal(2.0, batch[2].Value);
            Assert.Equal(new string('x', 200), batch[2].Data!.Value.GetProperty("pad").GetString());

            // Not acknowledged (a crash before the server's answer): the same items come again.
            Assert.Equal([1L, 2, 3, 4], outbox.ReadBatch(4).Select(i => i.Seq));
            outbox.Acknowledge(1, 4);
            Assert.Equal([5L, 6], outbox.ReadBatch(2).Select(i => i.Seq));
            outbox.Acknowledge(5, 10);
            Assert.Equal(0, outbox.Count);
            Assert.Equal(0, outbox.Bytes);
        }

        using var reopened = new Outbox(path, 1 << 20, new FakeTimeProvider(T0));
        reopened.Enqueue(Low(99));
        Assert.Equal(11, reopened.ReadBatch(10).Single().Seq);
        Assert.Equal(11, reopened.LastSeq);
    }

    [Fact]
    public void A_batch_stays_under_the_servers_body_limit()
    {
        using var dir = TestPaths.NewTempDir();
        using var outbox = new Outbox(Path.Combine(dir.Path, "agent.db"), 64L << 20, new FakeTimeProvider(T0));
        var big = $$"""{"pad":"{{new string('z', 60_000)}}"}""";
        outbox.Enqueue([.. Enumerable.Range(0, 40).Select(i => OutboxEntry.Metric(T0, "big", i, big))]);
        var batch = outbox.ReadBatch(1000);
        var body = JsonSerializer.SerializeToUtf8Bytes(new Contracts.Fleet.TelemetryBatch { Items = batch }, Contracts.Fleet.FleetJsonContext.Default.TelemetryBatch);
        Assert.InRange(batch.Count, 2, 39);
        Assert.True(body.Length <= 1024 * 1024, $"{body.Length} bytes");
    }

    [Fact]
    public void When_full_the_oldest_low_priority_items_go_first_and_the_loss_is_counted_and_reported()
    {
        using var dir = TestPaths.NewTempDir();
        var path = Path.Combine(dir.Path, "agent.db");
        using var outbox = new Outbox(path, 20_000, new FakeTimeProvider(T0));
        outbox.Enqueue([High(0), High(1)]);
        for (var i = 2; i < 200; i++)
        {
            outbox.Enqueue(Low(i));
        }

        Assert.True(outbox.Bytes <= 20_000, $"{outbox.Bytes} bytes held");
        var items = outbox.ReadBatch(1000);
        // Both events survive; the low items left are the newest, contiguous up to the last one.
        Assert.Equal(["e0", "e1"], items.Where(i => i.Name.StartsWith('e')).Select(i => i.Name));
        var lows = items.Where(i => i.Name == "m").Select(i => (int)i.Value!.Value).ToList();
        Assert.Equal(199, lows[^1]);
        Assert.Equal(Enumerable.Range(lows[0], lows.Count), lows);
        var (droppedLow, droppedHigh) = outbox.Dropped;
        Assert.Equal(0, droppedHigh);
        Assert.Equal(198 - lows.Count, droppedLow);

        // One report waits in the outbox (high priority); once it is uploaded the next carries the rest.
        var first = Assert.Single(items, i => i.Name == "outbox_dropped").Data!.Value;
        Assert.True(first.GetProperty("low").GetInt64() > 0);
        Assert.Equal(0, first.GetProperty("total_high").GetInt64());
        outbox.Acknowledge(1, outbox.LastSeq);
        outbox.Enqueue(Low(1000));
        var (low, _) = outbox.Dropped;
        var second = Assert.Single(outbox.ReadBatch(1000), i => i.Name == "outbox_dropped");
        Assert.Equal(droppedLow - first.GetProperty("low").GetInt64(), second.Value);
        Assert.Equal(droppedLow, second.Data!.Value.GetProperty("total_low").GetInt64());
        Assert.Equal(droppedLow, low);
    }

    [Fact]
    public void With_only_high_priority_items_left_the_oldest_of_those_go()
    {
        using var dir = TestPaths.NewTempDir();
        using var outbox = new Outbox(Path.Combine(dir.Path, "agent.db"), 10_000, new FakeTimeProvider(T0));
        for (var i = 0; i < 100; i++)
        {
            outbox.Enqueue(High(i));
        }

        var names = outbox.ReadBatch(1000).Select(i => i.Name).Where(n => n != "outbox_dropped").ToList();
        Assert.Equal("e99", names[^1]);
        Assert.DoesNotContain("e0", names);
        Assert.True(outbox.Dropped.High >= 100 - names.Count);
        Assert.True(outbox.Bytes <= 10_000);
    }

    [Fact]
    public void Purging_a_kind_removes_only_that_kind()
    {
        using var dir = TestPaths.NewTempDir();
        using var outbox = new Outbox(Path.Combine(dir.Path, "agent.db"), 1 << 20, new FakeTimeProvider(T0));
        outbox.Enqueue([Low(0), new OutboxEntry(T0, "query", "query", null, """{"question":"q"}""", OutboxPriority.Low), High(1)]);
        Assert.Equal(1, outbox.Purge("query"));
        Assert.Equal(["m", "e1"], outbox.ReadBatch(10).Select(i => i.Name));
    }
}
