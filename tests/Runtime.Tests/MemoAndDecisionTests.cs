using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

public class MemoAndDecisionTests : StoreTest
{
    Pipeline Build(long count)
    {
        var p = new Pipeline("m");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = count }));
        p.Add(new SquareMemo("square", Probe)).From("numbers", src["numbers"]);
        return p;
    }

    [Fact]
    public async Task ARecordWiseStageProcessesOnlyNewRecordsWhenItsInputGrows()
    {
        await Run(Build(100));
        Assert.Equal(100, Probe.Computed);
        var r = await Run(Build(150));
        Assert.Equal(StageStatus.Ran, r.Stages["square"].Status); // its input changed...
        Assert.Equal(150, Probe.Computed);                         // ...but only the 50 new records were computed
        Assert.Equal(Enumerable.Range(0, 150).Select(v => (long)v * v), await Values(Build(150), "square.numbers"));
        await Run(Build(150), new RunOptions { Force = ["square"] });
        Assert.Equal(150, Probe.Computed);
    }

    [Fact]
    public async Task TheMemoLogSurvivesATornLastLineAndKeepsAppendingOnAFreshLine()
    {
        var path = Path.Combine(Dir, "memo.log");
        File.WriteAllText(path, "[\"a\",\"1\"]\n[\"b\",\"two\\nlines\"]\n[\"c\",\"3");
        using (var memo = new RecordMemo(path))
        {
            Assert.Equal(2, memo.Count);
            Assert.Equal(1, memo.DiscardedLines);
            Assert.True(memo.TryGet("b", out var b));
            Assert.Equal("two\nlines", b);
            Assert.False(memo.TryGet("c", out _));
            await memo.PutAsync("c", "3");
        }
        using var reopened = new RecordMemo(path);
        Assert.Equal(3, reopened.Count);
        Assert.Equal(0, reopened.DiscardedLines);
        Assert.True(reopened.TryGet("c", out var c));
        Assert.Equal("3", c);
    }

    Pipeline Filtered()
    {
        var p = new Pipeline("d");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 10 }));
        var odd = p.Add(new KeepOdd("odd", Probe, new KeepConfig { Modulus = 2 }));
        odd.From("numbers", src["numbers"]);
        p.Add(new KeepOdd("not_three", Probe, new KeepConfig { Modulus = 3 })).From("numbers", odd["kept"]);
        return p;
    }

    [Fact]
    public async Task WhyWalksTheDecisionTablesInDagOrder()
    {
        var runner = new PipelineRunner(Store);
        var before = await runner.WhyAsync(Filtered(), "r3");
        Assert.Equal(["odd", "not_three"], before.StagesNotMaterialised);

        var r = await runner.RunAsync(Filtered());
        Assert.Equal(5, r.Stages["odd"].Decisions!.Dropped);     // 0,2,4,6,8
        Assert.Equal(2, r.Stages["not_three"].Decisions!.Dropped); // 3,9 of 1,3,5,7,9

        var three = await runner.WhyAsync(Filtered(), "r3");
        Assert.Equal([new RecordDecision("odd", true, "kept", null), new RecordDecision("not_three", false, "multiple", "3 % 3 == 0")], three.Decisions);
        var four = await runner.WhyAsync(Filtered(), "r4");
        Assert.Equal([new RecordDecision("odd", false, "multiple", "4 % 2 == 0")], four.Decisions);
        Assert.False((await runner.WhyAsync(Filtered(), "r99")).Found);
    }
}
