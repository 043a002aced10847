using System.Text.Json.Nodes;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>
/// <see cref="RecordMemoLoop{TIn, TOut}"/> and <see cref="RecordMemo"/> on their own, with an in-memory context: the
/// contract errors, progress and metrics, and the on-disk log's sharing and parsing rules. The end-to-end behaviour
/// (reuse across runs, crashes) is in RecordMemoLoopTests and MemoAndDecisionTests.
/// </summary>
public class RecordMemoUnitTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-memo-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    sealed class MemoryMemo : IRecordMemo
    {
        public readonly Dictionary<string, string> Entries = new();
        public int Puts;
        public bool TryGet(string recordKey, out string value) => Entries.TryGetValue(recordKey, out value!);
        public Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default)
        {
            Puts++;
            Entries[recordKey] = value;
            return Task.CompletedTask;
        }
        public long Count => Entries.Count;
        public string Location => "memory-memo";
    }

    sealed class Context(IRecordMemo memo) : IStageContext
    {
        public readonly List<string> Logs = new();
        public readonly List<(long Done, long? Total, string Unit)> Progress = new();
        public readonly Dictionary<string, double> Metrics = new();
        public string StageName => "s";
        public CancellationToken CancellationToken { get; init; }
        public ExecutionOptions Execution { get; } = new();
        public ITableReader ReadTable(string input) => throw new NotSupportedException();
        public bool HasInput(string input) => false;
        public string InputDirectory(string input) => throw new NotSupportedException();
        public ITableWriter WriteTable(string output) => throw new NotSupportedException();
        public string OutputDirectory(string output) => throw new NotSupportedException();
        public IDecisionWriter Decisions => throw new NotSupportedException();
        public IRecordMemo Memo => memo;
        public string ScratchDirectory => throw new NotSupportedException();
        public void Log(string message) => Logs.Add(message);
        public void ReportProgress(long done, long? total = null, string unit = "rows") => Progress.Add((done, total, unit));
        public void SetMetric(string name, double value) => Metrics[name] = value;
    }

    sealed class Square(bool recordWise = true) : Stage<Empty>("sq")
    {
        public override string Kind => "test.unit-square";
        public override int Version => 1;
        public override bool IsRecordWise => recordWise;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [];
        public override Task RunAsync(IStageContext ctx) => Task.CompletedTask;
    }

    static RecordMemoLoop<long, long> Loop(IStageContext ctx, int chunk = 2, string? unit = null, Func<long, long>? weight = null, long? total = null,
        Func<long, string>? describe = null, Func<string, long>? decode = null) =>
        new(new Square(), ctx, v => new JsonObject { ["v"] = v }, r => r.ToString(), decode ?? long.Parse)
        {
            ChunkSize = chunk, ProgressUnit = unit, ProgressWeight = weight, ProgressTotal = total, Describe = describe,
        };

    static Task<IReadOnlyList<long>> Squares(IReadOnlyList<long> chunk, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<long>>(chunk.Select(v => v * v).ToArray());

    [Fact]
    public void AStageThatIsNotRecordWiseCannotHaveALoop()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            new RecordMemoLoop<long, long>(new Square(recordWise: false), new Context(new MemoryMemo()), v => v, r => "", long.Parse));
        Assert.Contains("not record-wise", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task AChunkSizeBelowOneIsAnError(int chunk)
    {
        var loop = Loop(new Context(new MemoryMemo()), chunk);
        await Assert.ThrowsAsync<ArgumentException>(() => loop.RunAsync([1L], Squares));
    }

    [Fact]
    public async Task ChunkSizeOneComputesEveryRecordInItsOwnChunk()
    {
        var memo = new MemoryMemo();
        var sizes = new List<int>();
        var loop = Loop(new Context(memo), chunk: 1);
        var r = await loop.RunAsync([3L, 4L, 5L], (c, ct) => { sizes.Add(c.Count); return Squares(c, ct); });
        Assert.Equal([9L, 16L, 25L], r);
        Assert.Equal([1, 1, 1], sizes);
    }

    [Fact]
    public async Task ResultsComeInInputOrderWithCountsMetricsAndOneLogLine()
    {
        var memo = new MemoryMemo();
        var ctx = new Context(memo);
        var loop = Loop(ctx, chunk: 2);
        memo.Entries[loop.KeyOf(2)] = "400"; // a memoised value wins over computing
        var r = await loop.RunAsync([1L, 2L, 3L, 1L, 4L], Squares, "batch");
        Assert.Equal([1L, 400L, 9L, 1L, 16L], r);
        Assert.Equal(5, loop.Records);
        Assert.Equal(3, loop.Computed);        // 1, 3, 4; the second 1 shares the first's key
        Assert.Equal(2, loop.Reused);
        Assert.Equal(2, ctx.Metrics[RecordMemoLoop.ReusedMetric]);
        Assert.Equal(3, ctx.Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.Equal(["batch: 5 records, 2 reused from the record memo, 3 to compute"], ctx.Logs);
        Assert.Equal(4, memo.Entries.Count);
        Assert.Equal("9", memo.Entries[loop.KeyOf(3)]);

        var again = await loop.RunAsync([4L, 5L], Squares); // no label: no log line; counts are cumulative
        Assert.Equal([16L, 25L], again);
        Assert.Single(ctx.Logs);
        Assert.Equal(7, loop.Records);
        Assert.Equal(4, loop.Computed);
        Assert.Equal(3, ctx.Metrics[RecordMemoLoop.ReusedMetric]);
        Assert.Equal(4, ctx.Metrics[RecordMemoLoop.ComputedMetric]);
    }

    [Fact]
    public async Task ProgressCountsReusedRecordsAsDoneInTheRecordsWeights()
    {
        var memo = new MemoryMemo();
        var ctx = new Context(memo);
        var loop = Loop(ctx, chunk: 2, unit: "tokens", weight: v => v);
        memo.Entries[loop.KeyOf(10)] = "100";
        await loop.RunAsync([10L, 1L, 2L, 3L, 1L, 2L], Squares);
        // reused 10 first; then the chunks {1, 2} and {3}; then the duplicates 1 and 2 together
        Assert.Equal([(10L, (long?)19L, "tokens"), (13L, 19L, "tokens"), (16L, 19L, "tokens"), (19L, 19L, "tokens")], ctx.Progress);

        await loop.RunAsync([5L], Squares); // the total grows with the records seen when none is given
        Assert.Equal((24L, (long?)24L, "tokens"), ctx.Progress[^1]);
    }

    [Fact]
    public async Task AKnownTotalIsReportedAsIsAndNoUnitMeansNoProgress()
    {
        var ctx = new Context(new MemoryMemo());
        await Loop(ctx, chunk: 5, unit: "rows", total: 1000).RunAsync([1L, 2L], Squares);
        Assert.Equal([(0L, (long?)1000L, "rows"), (2L, 1000L, "rows")], ctx.Progress);

        var quiet = new Context(new MemoryMemo());
        await Loop(quiet).RunAsync([1L, 2L, 3L], Squares);
        Assert.Empty(quiet.Progress);
    }

    [Fact]
    public async Task TheListFormMustReturnOneResultPerRecord()
    {
        var loop = Loop(new Context(new MemoryMemo()), chunk: 3);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            loop.RunAsync([1L, 2L, 3L], (c, ct) => Task.FromResult<IReadOnlyList<long>>([1L, 4L])));
        Assert.Contains("2 results computed for a chunk of 3 records", e.Message);
    }

    [Fact]
    public async Task TheStoringFormMustStoreEachRecordExactlyOnce()
    {
        var memo = new MemoryMemo();
        var loop = Loop(new Context(memo), chunk: 3);
        var r = await loop.RunAsync([1L, 2L, 3L], async (c, store, ct) => { for (int j = c.Count - 1; j >= 0; j--) await store(j, c[j] * 10); });
        Assert.Equal([10L, 20L, 30L], r);
        Assert.Equal(3, memo.Puts);
        Assert.Equal(3, loop.Computed);

        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            loop.RunAsync([4L, 5L, 6L], async (c, store, ct) => await store(1, 0)));
        Assert.Contains("without a result for 2 of the chunk's 3 records", missing.Message);

        var twice = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            loop.RunAsync([7L, 8L], async (c, store, ct) => { await store(0, 1); await store(0, 1); }));
        Assert.Contains("stored twice", twice.Message);

        foreach (int bad in new[] { -1, 2 })
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => loop.RunAsync([9L, 10L], async (c, store, ct) => await store(bad, 1)));
    }

    [Fact]
    public async Task AnUnreadableMemoValueNamesTheMemoTheRecordAndTheKey()
    {
        var memo = new MemoryMemo();
        var loop = Loop(new Context(memo), describe: v => $"item #{v}");
        memo.Entries[loop.KeyOf(7)] = "not a number";
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => loop.RunAsync([7L], Squares));
        Assert.Contains("memory-memo", e.Message);
        Assert.Contains("item #7", e.Message);
        Assert.Contains(loop.KeyOf(7)[..12], e.Message);
        Assert.IsType<FormatException>(e.InnerException);

        var anonymous = Loop(new Context(memo));
        memo.Entries[anonymous.KeyOf(8)] = "x";
        var e2 = await Assert.ThrowsAsync<InvalidDataException>(() => anonymous.RunAsync([1L, 8L], Squares));
        Assert.Contains("record 2 of the call", e2.Message);
    }

    [Fact]
    public async Task ACancelledRunComputesNothing()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var memo = new MemoryMemo();
        var loop = Loop(new Context(memo) { CancellationToken = cts.Token });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop.RunAsync([1L], Squares));
        Assert.Empty(memo.Entries);
    }

    [Fact]
    public void SettingsWithoutRemovesNestedKeysAndNamesAKeyTheConfigurationLacks()
    {
        var config = JsonNode.Parse("""{"a":{"b":{"c":1,"d":2},"e":3},"c":4}""")!;
        var copy = RecordKeys.SettingsWithout(new Square(), config, ["a.b.c", "a.e"]);
        Assert.Equal("""{"a":{"b":{"d":2}},"c":4}""", copy.ToJsonString());
        Assert.Equal("""{"a":{"b":{"c":1,"d":2},"e":3},"c":4}""", config.ToJsonString()); // the original is untouched
        var e = Assert.Throws<InvalidOperationException>(() => RecordKeys.SettingsWithout(new Square(), config, ["a.x.c"]));
        Assert.Contains("'a.x.c'", e.Message);
    }

    // ---------------------------------------------------------------- RecordMemo (the on-disk log)

    [Fact]
    public async Task LinesThatAreNotAKeyValuePairAreDiscardedAndLaterLinesWin()
    {
        var path = Path.Combine(_dir, "m.log");
        File.WriteAllText(path, "[\"a\",\"1\"]\n[\"a\"]\n[\"b\",\"2\",\"3\"]\n{\"a\":\"x\"}\nnot json\n[\"a\",\"new\"]\n");
        using (var memo = new RecordMemo(path))
        {
            Assert.Equal(1, memo.Count);
            Assert.Equal(4, memo.DiscardedLines);
            Assert.True(memo.TryGet("a", out var a));
            Assert.Equal("new", a);
            Assert.False(memo.TryGet("b", out _));
            await memo.PutManyAsync([]);
            await memo.PutManyAsync([KeyValuePair.Create("c", "3"), KeyValuePair.Create("d", "4")]);
            Assert.Equal(3, memo.Count);
        }
        // complete lines are never cut; the appended entries follow them
        var lines = File.ReadAllLines(path);
        Assert.Equal(8, lines.Length);
        Assert.Equal("[\"c\",\"3\"]", lines[6]);
        using var reopened = new RecordMemo(path);
        Assert.Equal(3, reopened.Count);
        Assert.True(reopened.TryGet("d", out var d));
        Assert.Equal("4", d);
    }

    [Fact]
    public void AnEmptyOrNewLogHasNoEntries()
    {
        var path = Path.Combine(_dir, "sub", "new.log");
        using var memo = new RecordMemo(path);
        Assert.Equal(0, memo.Count);
        Assert.Equal(0, memo.DiscardedLines);
        Assert.Equal(path, memo.Location);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task LeasesOfOnePathShareOneLogUntilTheLastIsReleased()
    {
        var path = Path.Combine(_dir, "shared.log");
        var a = RecordMemo.OpenShared(path);
        var b = RecordMemo.OpenShared(Path.Combine(_dir, ".", "shared.log"));
        Assert.Same(a.Memo, b.Memo);
        await a.PutAsync("k", "v");
        Assert.True(b.TryGet("k", out var v));
        Assert.Equal("v", v);
        Assert.Equal(1, b.Count);
        Assert.Equal(Path.GetFullPath(path), b.Location);

        a.Dispose();
        a.Dispose(); // a second release of one lease does not release another's
        await b.PutManyAsync([KeyValuePair.Create("k2", "v2")]); // still open
        Assert.Throws<InvalidOperationException>(() => new RecordMemo(path)); // held exclusively while shared
        b.Dispose();

        using var c = RecordMemo.OpenShared(path); // closed and reopened from disk
        Assert.NotSame(b.Memo, c.Memo);
        Assert.Equal(2, c.Count);
    }

    [Fact]
    public async Task ALeaseThatIgnoresExistingRecordsSeesNoneButItsValuesWinOnReload()
    {
        var path = Path.Combine(_dir, "force.log");
        using (var first = RecordMemo.OpenShared(path)) await first.PutAsync("k", "old");
        using (var forced = RecordMemo.OpenShared(path, ignoreExisting: true))
        {
            Assert.False(forced.TryGet("k", out var none));
            Assert.Equal("", none);
            await forced.PutAsync("k", "new");
            Assert.False(forced.TryGet("k", out _));
        }
        using var reread = RecordMemo.OpenShared(path);
        Assert.True(reread.TryGet("k", out var v));
        Assert.Equal("new", v);
    }
}
