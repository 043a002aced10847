using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using IwSft.Runtime.Arrow;

namespace IwSft.Runtime.Tests;

public sealed class ScaleConfig
{
    /// <summary>Decides every record: value × factor.</summary>
    public long Factor { get; set; } = 2;
    /// <summary>Decides records: when positive, a record is value % modulus (so records share keys).</summary>
    public long Modulus { get; set; }
    public int ChunkSize { get; set; } = 16;
    public int Workers { get; set; } = 1;
    /// <summary>The list-returning compute form (one memo flush per chunk) instead of storing each record.</summary>
    public bool PerChunk { get; set; }
    /// <summary>Throw when the record after this many computed in this run is asked for (-1: never).</summary>
    public long FailAfter { get; set; } = -1;
    /// <summary>After this many records computed in this run, touch <see cref="ReadyFile"/> and hang (-1: never).</summary>
    public long HangAfter { get; set; } = -1;
    public string? ReadyFile { get; set; }
}

/// <summary>
/// A record-wise stage on <see cref="RecordMemoLoop{TIn, TOut}"/>: value × factor per record. Chunk size, workers,
/// the compute form and the fault injection do not decide a record, so they are <see cref="NotInRecordKey"/>.
/// </summary>
public sealed class ScaleMemo(string name, Probe probe, ScaleConfig? config = null, ConcurrentQueue<int>? chunks = null,
    Action? memoOpened = null, string[]? alsoNotInKey = null) : Stage<ScaleConfig>(name, config)
{
    public override string Kind => "test.scale-memo";
    public override int Version => 1;
    public override bool IsRecordWise => true;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<string> NotInRecordKey =>
        ["chunk_size", "workers", "per_chunk", "fail_after", "hang_after", "ready_file", .. alsoNotInKey ?? []];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var rows = new List<(string Id, long Value, double? X, int? Group)>();
        await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken))
            for (int i = 0; i < b.Length; i++) rows.Add((b.GetString("id", i)!, b.GetInt64("value", i)!.Value, b.GetDouble("x", i), b.GetInt32("group", i)));
        _ = ctx.Memo;
        memoOpened?.Invoke();

        long Of(long v) => Config.Modulus > 0 ? v % Config.Modulus : v;
        var loop = new RecordMemoLoop<long, long>(this, ctx, v => new JsonObject { ["value"] = Of(v) }, r => r.ToString(), long.Parse)
        {
            ChunkSize = Config.ChunkSize,
        };
        long computedHere = 0;
        long Compute(long v)
        {
            long n = Interlocked.Increment(ref computedHere);
            if (Config.FailAfter >= 0 && n > Config.FailAfter) throw new InvalidOperationException("injected failure");
            Interlocked.Increment(ref probe.Computed);
            return Of(v) * Config.Factor;
        }
        var values = rows.Select(r => r.Value).ToList();
        long[] results = Config.PerChunk
            ? await loop.RunAsync(values, (chunk, ct) =>
            {
                chunks?.Enqueue(chunk.Count);
                return Task.FromResult<IReadOnlyList<long>>(chunk.Select(Compute).ToArray());
            }, "numbers")
            : await loop.RunAsync(values, async (chunk, store, ct) =>
            {
                chunks?.Enqueue(chunk.Count);
                await Parallel.ForEachAsync(Enumerable.Range(0, chunk.Count), new ParallelOptions { MaxDegreeOfParallelism = Config.Workers, CancellationToken = ct },
                    async (j, _) =>
                    {
                        await store(j, Compute(chunk[j]));
                        if (Config.HangAfter >= 0 && Interlocked.Read(ref computedHere) >= Config.HangAfter)
                        {
                            File.WriteAllText(Config.ReadyFile!, "stored");
                            await Task.Delay(Timeout.Infinite, ct);
                        }
                    });
            }, "numbers");

        var bb = new BatchBuilder(TableSchema.Get("example_numbers"));
        for (int i = 0; i < rows.Count; i++) bb.Set("id", rows[i].Id).Set("value", results[i]).Set("x", rows[i].X).Set("group", rows[i].Group).EndRow();
        await ctx.WriteTable("numbers").WriteAsync(bb.Build(), ctx.CancellationToken);
    }
}

/// <summary><see cref="RecordMemoLoop{TIn, TOut}"/> through the real <see cref="PipelineRunner"/> and on-disk memo.</summary>
public class RecordMemoLoopTests : StoreTest
{
    readonly ConcurrentQueue<int> _chunks = new();

    Pipeline Build(long count, ScaleConfig? config = null)
    {
        var p = new Pipeline("loop");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = count }));
        p.Add(new ScaleMemo("scale", Probe, config, _chunks)).From("numbers", src["numbers"]);
        return p;
    }

    string[] MemoFiles => Directory.GetFiles(Path.Combine(Dir, "store", "memo", "test.scale-memo"));

    [Fact]
    public async Task ThroughputKnobsReuseEveryRecordAndADecidingSettingRecomputesThem()
    {
        var first = await Run(Build(100));
        Assert.Equal(100, Probe.Computed);
        Assert.Equal((0, 100), Counts(first));

        var knobs = await Run(Build(100), new RunOptions { Overrides = ["scale.chunk_size=7", "scale.workers=3", "scale.per_chunk=true"] });
        Assert.Equal(StageStatus.Ran, knobs.Stages["scale"].Status);      // the stage's configuration changed ...
        Assert.Equal(100, Probe.Computed);                                 // ... but no record was computed again
        Assert.Equal((100, 0), Counts(knobs));
        Assert.Equal(first.Stages["scale"].Outputs["numbers"].Hash, knobs.Stages["scale"].Outputs["numbers"].Hash);
        Assert.Single(MemoFiles);                                          // one memo file: the knobs are not in its name

        var factor = await Run(Build(100), new RunOptions { Overrides = ["scale.factor=3"] });
        Assert.Equal(200, Probe.Computed);
        Assert.Equal(Enumerable.Range(0, 100).Select(v => 3L * v), await Values(Build(100), "scale.numbers"));
        Assert.Equal(2, MemoFiles.Length);

        await Run(Build(100), new RunOptions { Overrides = ["scale.factor=2", "scale.chunk_size=5"] });
        Assert.Equal(200, Probe.Computed);                                 // back to factor 2: all from the memo
    }

    [Fact]
    public async Task AGrownInputComputesOnlyTheNewRecordsInChunksAndKeepsInputOrder()
    {
        await Run(Build(100));
        Assert.Equal(new[] { 16, 16, 16, 16, 16, 16, 4 }, _chunks);
        _chunks.Clear();

        var grown = await Run(Build(130));
        Assert.Equal(130, Probe.Computed);
        Assert.Equal(new[] { 16, 14 }, _chunks);
        Assert.Equal((100, 30), Counts(grown));
        Assert.Equal(Enumerable.Range(0, 130).Select(v => 2L * v), await Values(Build(130), "scale.numbers"));
    }

    [Fact]
    public async Task RecordsWithTheSameKeyAreComputedOnce()
    {
        var r = await Run(Build(100, new ScaleConfig { Modulus = 10 }));
        Assert.Equal(10, Probe.Computed);
        Assert.Equal((90, 10), Counts(r));
        Assert.Equal(Enumerable.Range(0, 100).Select(v => 2L * (v % 10)), await Values(Build(100, new ScaleConfig { Modulus = 10 }), "scale.numbers"));
    }

    [Theory]
    [InlineData(false, 25)]   // each record is stored as it completes: the 25 computed before the failure survive
    [InlineData(true, 20)]    // the list form stores a chunk at once: the two whole chunks of 10 survive
    public async Task AFailedRunKeepsTheRecordsItStored(bool perChunk, int kept)
    {
        var failing = new ScaleConfig { ChunkSize = 10, PerChunk = perChunk, FailAfter = 25 };
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(100, failing)));
        Assert.Contains("injected failure", e.InnerException!.Message);
        Assert.Equal(25, Probe.Computed);

        var resumed = await Run(Build(100, new ScaleConfig { ChunkSize = 10, PerChunk = perChunk }));
        Assert.Equal(25 + 100 - kept, Probe.Computed);
        Assert.Equal((kept, 100 - kept), Counts(resumed));
    }

    [Fact]
    public async Task ASigkilledRunLosesOnlyTheRecordsInFlight()
    {
        var store = Path.Combine(Dir, "store");
        var ready = Path.Combine(Dir, "child-ready");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { typeof(MemoCrashChild).Assembly.Location, MemoCrashChild.Verb, store, ready }) psi.ArgumentList.Add(a);
        using (var child = Process.Start(psi)!)
        {
            // Polls for the child's signal; the time limit only keeps a broken child from hanging the test.
            var sw = Stopwatch.StartNew();
            while (!File.Exists(ready) && !child.HasExited && sw.Elapsed < TimeSpan.FromSeconds(120)) await Task.Delay(20);
            Assert.True(File.Exists(ready), $"child never stored its records: {(child.HasExited ? await child.StandardError.ReadToEndAsync() : "timeout")}");
            child.Kill();
            await child.WaitForExitAsync();
        }
        var resumed = await Run(MemoCrashChild.Build(Probe, hang: false));
        Assert.Equal(MemoCrashChild.Rows - MemoCrashChild.StoredBeforeHang, Probe.Computed);
        Assert.Equal((MemoCrashChild.StoredBeforeHang, MemoCrashChild.Rows - MemoCrashChild.StoredBeforeHang), Counts(resumed));
    }

    [Fact]
    public async Task StagesThatShareAMemoNamespaceRunSideBySide()
    {
        // Two stages whose records have the same keys (they differ only in a knob) share one memo file. Each waits
        // until the other has opened it, so they hold it at the same time.
        using var both = new Barrier(2);
        void Opened() { if (!both.SignalAndWait(TimeSpan.FromMinutes(2))) throw new TimeoutException("the other stage never opened its memo"); }
        var p = new Pipeline("shared");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 50 }));
        p.Add(new ScaleMemo("a", Probe, new ScaleConfig { ChunkSize = 4 }, memoOpened: Opened)).From("numbers", src["numbers"]);
        p.Add(new ScaleMemo("b", Probe, new ScaleConfig { ChunkSize = 9 }, memoOpened: Opened)).From("numbers", src["numbers"]);
        var r = await Run(p, new RunOptions { MaxConcurrentStages = 2 });
        Assert.Equal(r.Stages["a"].Outputs["numbers"].Hash, r.Stages["b"].Outputs["numbers"].Hash);
        Assert.Single(MemoFiles);
        Assert.Equal(0, (await Run(Build(50))).Stages["scale"].Metrics[RecordMemoLoop.ComputedMetric]);
    }

    [Fact]
    public async Task ASettingOutsideRecordKeysThatTheConfigurationLacksIsAnError()
    {
        var p = new Pipeline("typo");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 5 }));
        p.Add(new ScaleMemo("scale", Probe, alsoNotInKey: ["chunksize"])).From("numbers", src["numbers"]);
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(p));
        Assert.Contains("'chunksize'", e.InnerException!.Message);
    }

    [Fact]
    public void TheRecordKeyIsTheHashOfKindSettingsAndRecordInCanonicalForm()
    {
        var settings = JsonNode.Parse("""{"b":1,"a":{"y":2,"x":[1,"s"]}}""")!;
        var record = JsonNode.Parse("""{"value":7,"prompt":"p"}""")!;
        string key = RecordKeys.Of("kind", settings, record);
        Assert.Equal(IwSft.Runtime.Store.Hashing.Sha256Hex("record\nkind\n" + """{"record":{"prompt":"p","value":7},"settings":{"a":{"x":[1,"s"],"y":2},"b":1}}"""), key);
        Assert.Equal(key, RecordKeys.Of("kind", JsonNode.Parse("""{"a":{"x":[1,"s"],"y":2},"b":1}""")!, JsonNode.Parse("""{"prompt":"p","value":7}""")!));
        Assert.NotEqual(key, RecordKeys.Of("other", settings, record));
        Assert.NotEqual(key, RecordKeys.Of("kind", settings, JsonNode.Parse("""{"value":8,"prompt":"p"}""")!));
    }

    static (double Reused, double Computed) Counts(RunResult r) =>
        (r.Stages["scale"].Metrics[RecordMemoLoop.ReusedMetric], r.Stages["scale"].Metrics[RecordMemoLoop.ComputedMetric]);
}

/// <summary>The child side of <see cref="RecordMemoLoopTests.ASigkilledRunLosesOnlyTheRecordsInFlight"/>.</summary>
public static class MemoCrashChild
{
    public const string Verb = "memo-crash-child";
    public const long Rows = 60;
    public const long StoredBeforeHang = 23;

    public static Pipeline Build(Probe probe, bool hang, string? readyFile = null)
    {
        var p = new Pipeline("loop");
        var src = p.Add(new NumbersSource("src", probe, new SourceConfig { Count = Rows }));
        p.Add(new ScaleMemo("scale", probe, new ScaleConfig { ChunkSize = 10, HangAfter = hang ? StoredBeforeHang : -1, ReadyFile = readyFile }))
            .From("numbers", src["numbers"]);
        return p;
    }

    public static int RunChild(string[] args)
    {
        var (store, ready) = (args[1], args[2]);
        new PipelineRunner(new ArtifactStore(store)).RunAsync(Build(new Probe(), hang: true, ready)).GetAwaiter().GetResult();
        return 0;
    }
}
