using System.Text.Json.Nodes;

namespace IwSft.Runtime.Tests;

public class CachingTests : StoreTest
{
    // src → add → sum, and src → keep (an independent branch).
    Pipeline Build(long delta = 1, int addVersion = 1, long count = 100)
    {
        var p = new Pipeline("t");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = count }));
        p.Add(new AddDelta("add", Probe, new AddConfig { Delta = delta }, addVersion)).From("numbers", src["numbers"]);
        p.Add(new SumValues("sum", Probe)).From("numbers", p.Get("add")["numbers"]);
        p.Add(new KeepOdd("keep", Probe)).From("numbers", src["numbers"]);
        return p;
    }

    [Fact]
    public async Task FirstRunComputesEverythingAndASecondRunIsFullyCached()
    {
        var first = await Run(Build());
        Assert.All(first.Stages.Values, s => Assert.Equal(StageStatus.Ran, s.Status));
        Assert.Equal(100, first.Stages["src"].Rows["numbers"]);
        Assert.Equal(50, first.Stages["keep"].Rows["kept"]);
        Assert.Equal(100, first.Stages["keep"].Rows["decisions"]);
        Assert.Equal(3, first.Stages["sum"].Metrics["groups"]);

        var second = await Run(Build());
        Assert.All(second.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        Assert.Equal(1, Probe.RunsOf("src"));
        Assert.Equal(1, Probe.RunsOf("add"));
        Assert.Equal(1, Probe.RunsOf("sum"));
        // Sums of value+1 for values 0..99 by value % 3: group 0 holds 0,3,..,99 (34 values, sum 1683) → 1683+34.
        var groups = new List<(long count, double sum)>();
        await foreach (var b in Store.OpenTable(Build(), "sum.groups").ReadBatchesAsync())
            for (int i = 0; i < b.Length; i++) groups.Add((b.Column(1) is Apache.Arrow.Int64Array c ? c.GetValue(i)!.Value : 0, ((Apache.Arrow.DoubleArray)b.Column(2)).GetValue(i)!.Value));
        Assert.Equal(new[] { (34L, 1717.0), (33L, 1650.0), (33L, 1683.0) }, groups);
        Assert.Equal(50, second.Stages["keep"].Decisions!.Dropped);
        Assert.Equal(50, second.Stages["keep"].Decisions!.ByReason["multiple"]);
        Assert.True(Store.ReadLock("t").Stages.ContainsKey("sum"));
    }

    [Fact]
    public async Task ManifestRecordsStatusesKeysRowsAndDecisionCounts()
    {
        var r = await Run(Build());
        var m = JsonNode.Parse(File.ReadAllText(r.ManifestPath))!;
        Assert.Equal("t", (string?)m["pipeline"]);
        Assert.Equal("ran", (string?)m["stages"]!["keep"]!["status"]);
        Assert.Equal(r.Stages["keep"].Key, (string?)m["stages"]!["keep"]!["key"]);
        Assert.Equal(50, (long?)m["stages"]!["keep"]!["outputs"]!["kept"]!["rows"]);
        Assert.Equal(50, (long?)m["stages"]!["keep"]!["decisions"]!["by_reason"]!["kept"]);
        Assert.Equal("src.numbers", (string?)m["stages"]!["add"]!["inputs"]!["numbers"]!["source"]);
        Assert.Equal(3.0, (double?)m["stages"]!["sum"]!["metrics"]!["groups"]);
    }

    [Fact]
    public async Task ChangingOneConfigRerunsThatStageAndItsDescendantsOnly()
    {
        await Run(Build());
        var status = new PipelineRunner(Store, new RunOptions { Overrides = ["add.delta=5"] }).Status(Build());
        Assert.Equal(StageState.UpToDate, status["src"].State);
        Assert.Equal(StageState.UpToDate, status["keep"].State);
        Assert.Equal(["config changed: delta"], status["add"].Reasons);
        Assert.Equal(["upstream stale: add"], status["sum"].Reasons);

        var r = await Run(Build(), new RunOptions { Overrides = ["add.delta=5"] });
        Assert.Equal(new Dictionary<string, StageStatus> { ["src"] = StageStatus.Cached, ["add"] = StageStatus.Ran, ["sum"] = StageStatus.Ran, ["keep"] = StageStatus.Cached }, Statuses(r));
        Assert.Equal("config changed: delta", r.Stages["add"].Reason);
        Assert.Equal(Enumerable.Range(5, 100).Select(v => (long)v), await Values(Build(), "add.numbers"));

        // Going back to the old configuration is a cache hit (the run cache remembers it), like DVC's run cache.
        var back = await Run(Build());
        Assert.All(back.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
    }

    [Fact]
    public async Task BumpingACodeVersionRerunsThatStageAndItsDescendantsOnly()
    {
        await Run(Build());
        Assert.Equal(["code version changed: v1 -> v2"], new PipelineRunner(Store).Status(Build(addVersion: 2))["add"].Reasons);
        var r = await Run(Build(addVersion: 2));
        // add reran; its output bytes are identical (v2 computes the same thing), so sum's key is unchanged.
        Assert.Equal(new Dictionary<string, StageStatus> { ["src"] = StageStatus.Cached, ["add"] = StageStatus.Ran, ["sum"] = StageStatus.Cached, ["keep"] = StageStatus.Cached }, Statuses(r));
        Assert.Equal("code version changed: v1 -> v2", r.Stages["add"].Reason);

        // A version bump together with different output reruns the descendants too.
        var r3 = await Run(Build(addVersion: 3, delta: 2));
        Assert.Equal(new Dictionary<string, StageStatus> { ["src"] = StageStatus.Cached, ["add"] = StageStatus.Ran, ["sum"] = StageStatus.Ran, ["keep"] = StageStatus.Cached }, Statuses(r3));
        Assert.Equal("code version changed: v2 -> v3; config changed: delta", r3.Stages["add"].Reason);
    }

    [Fact]
    public async Task StagesThatDifferOnlyInKindNeverShareACacheEntry()
    {
        static Pipeline P(Probe probe, string kind)
        {
            var p = new Pipeline("kinds");
            p.Add(new NamesItsKind("s", probe, kind));
            return p;
        }
        // Same class, name, configuration and code: only the kind tells them apart.
        Assert.Equal(Execution.StageIdentity.Of(new NamesItsKind("s", Probe, "test.kind-a")).Code, Execution.StageIdentity.Of(new NamesItsKind("s", Probe, "test.kind-b")).Code);
        var a = await Run(P(Probe, "test.kind-a"));
        var b = await Run(P(Probe, "test.kind-b"));
        Assert.Equal(StageStatus.Ran, b.Stages["s"].Status);
        Assert.Equal("stage kind changed: test.kind-a -> test.kind-b", b.Stages["s"].Reason);
        Assert.NotEqual(a.Stages["s"].Key, b.Stages["s"].Key);
        Assert.Equal(2, Probe.RunsOf("s"));
        Assert.Equal("test.kind-b", File.ReadAllText(Path.Combine(Store.GetDirectory(P(Probe, "test.kind-b"), "s.out"), "kind.txt")));
        // Each kind keeps its own entry: going back to the first is a hit, with the first kind's output.
        var back = await Run(P(Probe, "test.kind-a"));
        Assert.Equal(StageStatus.Cached, back.Stages["s"].Status);
        Assert.Equal("test.kind-a", File.ReadAllText(Path.Combine(Store.GetDirectory(P(Probe, "test.kind-a"), "s.out"), "kind.txt")));
    }

    [Fact]
    public async Task UpstreamDataChangeIsReportedAsAnInputChange()
    {
        await Run(Build());
        var r = await Run(Build(count: 120));
        Assert.Equal("input changed: numbers", r.Stages["add"].Reason);
        Assert.Equal(StageStatus.Ran, r.Stages["keep"].Status);
    }

    [Fact]
    public async Task DeletingAnArtifactRecomputesExactlyItAndDependantsStayCachedWhenContentIsTheSame()
    {
        var first = await Run(Build());
        var add = first.Stages["add"].Outputs["numbers"];
        File.Delete(Store.ObjectPath(add));
        Assert.Equal(["artifact numbers missing"], new PipelineRunner(Store).Status(Build())["add"].Reasons);

        var r = await Run(Build());
        Assert.Equal(new Dictionary<string, StageStatus> { ["src"] = StageStatus.Cached, ["add"] = StageStatus.Ran, ["sum"] = StageStatus.Cached, ["keep"] = StageStatus.Cached }, Statuses(r));
        Assert.Equal(add.Hash, r.Stages["add"].Outputs["numbers"].Hash); // deterministic content → same hash
        Assert.Equal(2, Probe.RunsOf("add"));
        Assert.Equal(1, Probe.RunsOf("sum"));
    }

    [Fact]
    public async Task ACorruptedArtifactIsDetectedQuarantinedAndRecomputed()
    {
        var first = await Run(Build());
        var src = first.Stages["src"].Outputs["numbers"];
        var path = Store.ObjectPath(src);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0xFF; // same size, different content (and a new mtime)
        File.WriteAllBytes(path, bytes);

        var r = await Run(Build());
        Assert.Equal(StageStatus.Ran, r.Stages["src"].Status);
        Assert.Equal("artifact numbers corrupt", r.Stages["src"].Reason);
        Assert.Equal(src.Hash, r.Stages["src"].Outputs["numbers"].Hash);
        Assert.Equal(StageStatus.Cached, r.Stages["add"].Status);
        Assert.Equal(StageStatus.Cached, r.Stages["keep"].Status);
        Assert.Single(Directory.GetFiles(Path.Combine(Store.Root, "quarantine")));
        Assert.Equal(ArtifactHealth.Ok, Store.Verify(src, fullHash: true));
    }

    [Fact]
    public async Task ATruncatedArtifactIsNeverUsedAsInput()
    {
        var first = await Run(Build());
        var src = first.Stages["src"].Outputs["numbers"];
        using (var fs = new FileStream(Store.ObjectPath(src), FileMode.Open)) fs.SetLength(fs.Length / 2);
        Assert.Throws<InvalidOperationException>(() => Store.OpenTable(Build(), "src.numbers"));
        var r = await Run(Build());
        Assert.Equal(StageStatus.Ran, r.Stages["src"].Status);
        Assert.Equal(Enumerable.Range(0, 100).Select(v => (long)v), await Values(Build(), "src.numbers"));
    }

    [Fact]
    public async Task ForceRecomputesTheNamedStageOnly()
    {
        await Run(Build());
        var r = await Run(Build(), new RunOptions { Force = ["add"] });
        Assert.Equal(StageStatus.Ran, r.Stages["add"].Status);
        Assert.Equal("forced", r.Stages["add"].Reason);
        Assert.Equal(StageStatus.Cached, r.Stages["sum"].Status); // same content downstream
    }

    [Fact]
    public async Task UntilRunsOnlyTheStageAndItsAncestors()
    {
        var r = await Run(Build(), new RunOptions { Until = "add" });
        Assert.Equal(StageStatus.Ran, r.Stages["add"].Status);
        Assert.Equal(StageStatus.Skipped, r.Stages["sum"].Status);
        Assert.Equal(StageStatus.Skipped, r.Stages["keep"].Status);
        Assert.Equal(0, Probe.RunsOf("keep"));
        Assert.Equal(["never run"], new PipelineRunner(Store).Status(Build())["keep"].Reasons);
    }

    [Fact]
    public async Task AnExternalFileIsPartOfTheKeyAndIsNotRehashedWhenUnchanged()
    {
        var file = Path.Combine(Dir, "ext.txt");
        File.WriteAllText(file, "one");
        Pipeline P() { var p = new Pipeline("ext"); p.Add(new ReadsFile("read", Probe, file)); return p; }
        await Run(P());
        Assert.Equal(StageStatus.Cached, (await Run(P())).Stages["read"].Status);
        File.WriteAllText(file, "two!");
        Assert.Equal([$"external file changed: {file}"], new PipelineRunner(Store).Status(P())["read"].Reasons);
        var r = await Run(P());
        Assert.Equal(StageStatus.Ran, r.Stages["read"].Status);
        Assert.Equal("two!", File.ReadAllText(Path.Combine(Store.GetDirectory(P(), "read.copy"), "copy.txt")));
    }

    [Fact]
    public async Task GcDeletesOnlyObjectsTheLatestStateNoLongerReferences()
    {
        var first = await Run(Build());
        var second = await Run(Build(delta: 2));
        var oldAdd = first.Stages["add"].Outputs["numbers"];
        var r = Store.CollectGarbage(new GcOptions { Grace = TimeSpan.Zero });
        Assert.False(File.Exists(Store.ObjectPath(oldAdd)));                     // superseded by delta=2
        Assert.Equal(2, r.ObjectsDeleted);                                        // old add.numbers and old sum.groups
        foreach (var s in second.Stages.Values)
            foreach (var o in s.Outputs.Values) Assert.Equal(ArtifactHealth.Ok, Store.Verify(o, fullHash: true));
        Assert.All((await Run(Build(delta: 2))).Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        var back = await Run(Build());                                            // delta=1 results were collected: recomputed
        Assert.Equal(StageStatus.Ran, back.Stages["add"].Status);
        Assert.Equal(oldAdd.Hash, back.Stages["add"].Outputs["numbers"].Hash);
    }
}
