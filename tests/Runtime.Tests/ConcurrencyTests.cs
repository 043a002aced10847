using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Runtime.Tests;

public class ConcurrencyTests : StoreTest
{
    /// <summary>
    /// Waits at a barrier shared with its sibling branch: both can pass only if they run at the same time, so passing
    /// is the proof (a runner that ran them one after the other would leave the first waiting until the hang guard).
    /// </summary>
    sealed class Rendezvous(string name, Barrier barrier, List<string> passed) : Stage<Empty>(name)
    {
        public override string Kind => "test.rendezvous";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("out")];
        public override Task RunAsync(IStageContext ctx)
        {
            if (!barrier.SignalAndWait(HangGuard.Limit, ctx.CancellationToken))
                throw new TimeoutException($"{Name}: the other branch never ran alongside");
            File.WriteAllText(Path.Combine(ctx.OutputDirectory("out"), "x"), Name);
            lock (passed) passed.Add(Name);
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task IndependentBranchesRunAtTheSameTime()
    {
        using var barrier = new Barrier(2);
        var passed = new List<string>();
        var p = new Pipeline("branches");
        var src = p.Add(new NumbersSource("src", Probe));
        p.Add(new Rendezvous("left", barrier, passed)).From("numbers", src["numbers"]);
        p.Add(new Rendezvous("right", barrier, passed)).From("numbers", src["numbers"]);
        var r = await Run(p, new RunOptions { MaxConcurrentStages = 2 });
        Assert.Equal(["left", "right"], passed.Order());
        Assert.True(r.Succeeded);
    }

    /// <summary>Counts batches pulled from the reader and batches handed to the writer.</summary>
    sealed class CountingReader(ITableReader inner, Counter c) : ITableReader
    {
        public string Artifact => inner.Artifact;
        public Schema Schema => inner.Schema;
        public long RowCount => inner.RowCount;
        public string ContentHash => inner.ContentHash;
        public async IAsyncEnumerable<RecordBatch> ReadBatchesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
        {
            await foreach (var b in inner.ReadBatchesAsync(ct))
            {
                c.Read();
                yield return b;
            }
        }
    }

    sealed class CountingWriter(ITableWriter inner, Counter c) : ITableWriter
    {
        public Schema Schema => inner.Schema;
        public long RowCount => inner.RowCount;
        public async Task WriteAsync(RecordBatch batch, CancellationToken ct = default) { await inner.WriteAsync(batch, ct); c.Written(); }
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    sealed class Counter
    {
        int _read, _written, _maxInFlight;
        public int MaxInFlight => _maxInFlight;
        public int TotalRead => _read;
        public void Read()
        {
            int inFlight = Interlocked.Increment(ref _read) - Volatile.Read(ref _written);
            int seen;
            while (inFlight > (seen = _maxInFlight) && Interlocked.CompareExchange(ref _maxInFlight, inFlight, seen) != seen) { }
        }
        public void Written() => Interlocked.Increment(ref _written);
    }

    /// <summary>Slow record-wise copy: 25 ms per batch, several times slower than reading one, so without back-pressure the reader would run far ahead.</summary>
    sealed class SlowCopy(string name, Counter c) : Stage<Empty>(name)
    {
        public override string Kind => "test.slow-copy";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];
        public override Task RunAsync(IStageContext ctx) =>
            StageDataflow.TransformAsync(new CountingReader(ctx.ReadTable("numbers"), c), new CountingWriter(ctx.WriteTable("numbers"), c),
                async (b, ct) => { await Task.Delay(25, ct); return b; }, ctx.Execution, ctx.CancellationToken);
    }

    [Fact]
    public async Task BackPressureBoundsTheBatchesInFlightThroughASlowStage()
    {
        const int rows = 1_000_000, batchRows = 8192, capacity = 2, workers = 2;
        var counter = new Counter();
        var p = new Pipeline("bp");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = rows }));
        p.Add(new SlowCopy("slow", counter)).From("numbers", src["numbers"]);
        var exec = new ExecutionOptions { BatchRows = batchRows, BoundedCapacity = capacity, MaxDegreeOfParallelism = workers };
        var r = await Run(p, new RunOptions { Execution = exec });

        Assert.Equal(rows, r.Stages["slow"].Rows["numbers"]);
        Assert.Equal((rows + batchRows - 1) / batchRows, counter.TotalRead); // 123 batches went through
        // At most: the transform's bounded buffer, the writer's bounded buffer, the batch being written,
        // and one more the reader holds while SendAsync waits. Never the whole table.
        int bound = 2 * capacity + workers + 2;
        // Memory held by the stage is therefore at most bound × one batch (8192 rows × ~32 B ≈ 0.26 MB here,
        // ≈ 2.6 MB in all) instead of the whole 1M-row table (≈ 32 MB), whatever the table's size.
        Assert.InRange(counter.MaxInFlight, 1, bound);
    }
}
