namespace IwSft.Runtime.Tests;

public class FailureTests : StoreTest
{
    Pipeline Build(bool fail, long delta = 1)
    {
        var p = new Pipeline("f");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 20_000 }));
        p.Add(new AddDelta("add", Probe, new AddConfig { Delta = delta, Fail = fail })).From("numbers", src["numbers"]);
        p.Add(new SumValues("sum", Probe)).From("numbers", p.Get("add")["numbers"]);
        return p;
    }

    [Fact]
    public async Task AThrowingStageLeavesEarlierArtifactsIntactAndTheNextRunResumesAfterTheLastGoodStage()
    {
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(fail: true)));
        Assert.Equal("add", e.Stage);
        Assert.Contains("boom: configured to fail", e.Message);
        Assert.Equal(StageStatus.Ran, e.Result.Stages["src"].Status);
        Assert.Equal(StageStatus.Failed, e.Result.Stages["add"].Status);
        Assert.Equal(StageStatus.Skipped, e.Result.Stages["sum"].Status);
        Assert.True(File.Exists(e.Result.ManifestPath));
        var lockAfterFailure = Store.ReadLock("f");
        Assert.Equal(["src"], lockAfterFailure.Stages.Keys);
        Assert.Empty(Directory.GetDirectories(Path.Combine(Store.Root, "tmp"))); // the failed stage's temp files are gone

        var r = await Run(Build(fail: false));
        Assert.Equal(StageStatus.Cached, r.Stages["src"].Status);
        Assert.Equal(StageStatus.Ran, r.Stages["add"].Status);
        Assert.Equal(StageStatus.Ran, r.Stages["sum"].Status);
        Assert.Equal(1, Probe.RunsOf("src"));
    }

    [Fact]
    public async Task AFailingRerunDoesNotTouchThePreviouslyMaterialisedOutputOfThatStage()
    {
        var good = await Run(Build(fail: false));
        var before = good.Stages["add"].Outputs["numbers"];
        await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(fail: true, delta: 7)));
        var entry = Store.ReadLock("f").Stages["add"];
        Assert.Equal(before, entry.Outputs["numbers"]);
        Assert.Equal(ArtifactHealth.Ok, Store.Verify(before, fullHash: true));
        Assert.Equal(Enumerable.Range(1, 20_000).Select(v => (long)v), await Values(Build(false), "add.numbers"));
    }

    [Fact]
    public async Task CancellationStopsTheRunAndLeavesNothingHalfWritten()
    {
        using var cts = new CancellationTokenSource();
        var p = new Pipeline("c");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 100 }));
        p.Add(new BlockingStage("wait", cts)).From("numbers", src["numbers"]);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Run(p, ct: cts.Token));
        Assert.Equal(["src"], Store.ReadLock("c").Stages.Keys);
        Assert.Empty(Directory.GetDirectories(Path.Combine(Store.Root, "tmp")));
    }

    /// <summary>Writes one batch, cancels the run, then waits for the cancellation.</summary>
    sealed class BlockingStage(string name, CancellationTokenSource cts) : Stage<Empty>(name)
    {
        public override string Kind => "test.blocking";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

        public override async Task RunAsync(IStageContext ctx)
        {
            var w = ctx.WriteTable("numbers");
            await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken)) await w.WriteAsync(b, ctx.CancellationToken);
            cts.Cancel();
            await Task.Delay(TimeSpan.FromSeconds(30), ctx.CancellationToken);
        }
    }
}
