namespace IwSft.Runtime.Tests;

/// <summary><see cref="ReadAhead"/>: order, the bound on how far ahead it reads, errors, early stops and cancellation.</summary>
public class ReadAheadTests
{
    sealed class Source
    {
        public int Produced;
        public bool Closed;
        public int ThrowAfter = -1;

        public async IAsyncEnumerable<int> Items(int count, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
        {
            try
            {
                for (int i = 0; i < count; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    if (i == ThrowAfter) throw new InvalidDataException($"bad item {i}");
                    await Task.Yield();
                    Interlocked.Increment(ref Produced);
                    yield return i;
                }
            }
            finally { Closed = true; }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public async Task Keeps_order_and_never_runs_more_than_depth_plus_one_ahead(int depth)
    {
        var source = new Source();
        var seen = new List<int>();
        await foreach (var i in ReadAhead.Of(source.Items(500), depth))
        {
            seen.Add(i);
            // One item waits in the producer's hand, `depth` in the queue; the consumer holds the one it got.
            Assert.InRange(Volatile.Read(ref source.Produced), seen.Count, seen.Count + depth + 1);
        }
        Assert.Equal(Enumerable.Range(0, 500), seen);
        Assert.True(source.Closed);
    }

    [Fact]
    public async Task An_error_reaches_the_consumer_after_every_item_before_it()
    {
        var source = new Source { ThrowAfter = 3 };
        var seen = new List<int>();
        var e = await Assert.ThrowsAsync<InvalidDataException>(async () =>
        {
            await foreach (var i in ReadAhead.Of(source.Items(10), 2)) seen.Add(i);
        });
        Assert.Equal("bad item 3", e.Message);
        Assert.Equal([0, 1, 2], seen);
    }

    [Fact]
    public async Task A_consumer_that_stops_early_closes_the_source_before_the_loop_ends()
    {
        var source = new Source();
        await foreach (var i in ReadAhead.Of(source.Items(1000), 4))
            if (i == 2) break;
        Assert.True(source.Closed);
        Assert.InRange(source.Produced, 3, 3 + 4 + 1);
    }

    [Fact]
    public async Task Cancelling_the_consumer_stops_and_closes_the_source()
    {
        var source = new Source();
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var i in ReadAhead.Of(source.Items(1_000_000), 1, cts.Token))
                if (i == 5) cts.Cancel();
        });
        Assert.True(source.Closed);
        Assert.True(source.Produced < 1_000_000);
    }

    [Fact]
    public async Task Depth_zero_reads_in_the_consumers_own_loop()
    {
        var source = new Source();
        var seen = new List<int>();
        await foreach (var i in ReadAhead.Of(source.Items(20), 0))
        {
            seen.Add(i);
            Assert.Equal(seen.Count, Volatile.Read(ref source.Produced));
        }
        Assert.Equal(Enumerable.Range(0, 20), seen);
    }
}
