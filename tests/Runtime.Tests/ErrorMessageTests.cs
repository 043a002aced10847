using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Runtime.Tests;

public class ErrorMessageTests : StoreTest
{
    Pipeline Build()
    {
        var p = new Pipeline("e");
        var src = p.Add(new NumbersSource("src", Probe));
        p.Add(new AddDelta("add", Probe)).From("numbers", src["numbers"]);
        return p;
    }

    [Fact]
    public void UnknownStageInSetListsTheStages()
    {
        var e = Assert.Throws<ArgumentException>(() => ConfigOverrides.Apply(Build(), "nope.delta=2"));
        Assert.Equal("--set nope.delta=2: pipeline 'e' has no stage 'nope'; stages: src, add", e.Message);
    }

    [Fact]
    public void UnknownKeyInSetListsTheValidKeys()
    {
        var e = Assert.Throws<ArgumentException>(() => ConfigOverrides.Apply(Build(), "add.dleta=2"));
        Assert.Equal("--set add.dleta=2: stage 'add' (test.add) has no configuration key 'dleta'; valid keys: delta, fail", e.Message);
    }

    [Fact]
    public void AValueOfTheWrongTypeNamesStageKeyAndValue()
    {
        var e = Assert.Throws<ArgumentException>(() => ConfigOverrides.Apply(Build(), "add.delta=abc"));
        Assert.StartsWith("--set add.delta=abc: value 'abc' is not valid for stage 'add' key 'delta'", e.Message);
    }

    [Fact]
    public void OverridesParseJsonValuesAndPlainStrings()
    {
        var p = Build();
        ConfigOverrides.Apply(p, ["add.delta=-4", "add.fail=true"]);
        var cfg = ((AddDelta)p.Get("add")).Config;
        Assert.Equal(-4, cfg.Delta);
        Assert.True(cfg.Fail);
    }

    [Fact]
    public async Task UnknownForceOrUntilStageListsTheStages()
    {
        var e = await Assert.ThrowsAsync<KeyNotFoundException>(() => Run(Build(), new RunOptions { Force = ["ad"] }));
        Assert.Equal("pipeline 'e' has no stage 'ad'; stages: src, add", e.Message);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => Run(Build(), new RunOptions { Until = "x" }));
    }

    [Fact]
    public void UnconnectedInputsAndCyclesAreRejectedBeforeRunning()
    {
        var p = new Pipeline("bad");
        p.Add(new AddDelta("add", Probe));
        var e = Assert.Throws<InvalidOperationException>(() => PipelineRunner.Order(p));
        Assert.Contains("stage 'add' input 'numbers' is not connected", e.Message);

        var c = new Pipeline("cycle");
        var a = c.Add(new AddDelta("a", Probe));
        var b = c.Add(new AddDelta("b", Probe));
        a.From("numbers", b["numbers"]);
        b.From("numbers", a["numbers"]);
        Assert.Contains("has a cycle through stages: a, b", Assert.Throws<InvalidOperationException>(() => PipelineRunner.Order(c)).Message);
    }

    /// <summary>Writes a batch that lacks the 'x' column of example_numbers.</summary>
    sealed class MissingColumn(string name) : Stage<Empty>(name)
    {
        public override string Kind => "test.missing-column";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var schema = new Schema.Builder().Field(new Field("id", Apache.Arrow.Types.StringType.Default, false))
                .Field(new Field("value", Apache.Arrow.Types.Int32Type.Default, false)).Build();
            var bb = new BatchBuilder(schema);
            bb.Set("id", "a").Set("value", 1).EndRow();
            await ctx.WriteTable("numbers").WriteAsync(bb.Build());
        }
    }

    [Fact]
    public async Task AWriterRejectsABatchThatDoesNotMatchThePortSchema()
    {
        var p = new Pipeline("s");
        p.Add(new MissingColumn("writer"));
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(p));
        var inner = Assert.IsType<SchemaMismatchException>(e.InnerException);
        Assert.Equal("schema mismatch in stage 'writer', artifact 'writer.numbers', column 'value': expected int64, got int32", inner.Message);
    }

    /// <summary>Reads example_squared, which needs a 'square' column that example_numbers lacks.</summary>
    sealed class NeedsSquare(string name) : Stage<Empty>(name)
    {
        public override string Kind => "test.needs-square";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("rows", "example_squared")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("out")];
        public override Task RunAsync(IStageContext ctx) { ctx.ReadTable("rows"); ctx.OutputDirectory("out"); return Task.CompletedTask; }
    }

    [Fact]
    public async Task AReaderRejectsAnUpstreamArtifactThatLacksAColumnOfTheInputPort()
    {
        var p = new Pipeline("r");
        var src = p.Add(new NumbersSource("src", Probe));
        p.Add(new NeedsSquare("consumer")).From("rows", src["numbers"]);
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(p));
        Assert.StartsWith("schema mismatch in stage 'consumer', artifact 'src.numbers (input 'rows')', column 'square': expected int64, got missing (columns present: id, value, x, group)",
            e.InnerException!.Message);
    }

    /// <summary>Writes a null into the non-nullable 'id' column.</summary>
    sealed class NullId(string name) : Stage<Empty>(name)
    {
        public override string Kind => "test.null-id";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var nullable = new Schema.Builder()
                .Field(new Field("id", Apache.Arrow.Types.StringType.Default, true)).Field(new Field("value", Apache.Arrow.Types.Int64Type.Default, false))
                .Field(new Field("x", Apache.Arrow.Types.DoubleType.Default, false)).Field(new Field("group", Apache.Arrow.Types.Int32Type.Default, false)).Build();
            var bb = new BatchBuilder(nullable);
            bb.Set("id", "a").Set("value", 1L).Set("x", 0.5).Set("group", 0).EndRow();
            bb.Set("value", 2L).Set("x", 0.5).Set("group", 0).EndRow();
            await ctx.WriteTable("numbers").WriteAsync(bb.Build());
        }
    }

    [Fact]
    public async Task ANullInANonNullableColumnNamesTheRow()
    {
        var p = new Pipeline("n");
        p.Add(new NullId("nulls"));
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(p));
        Assert.Equal("schema mismatch in stage 'nulls', artifact 'nulls.numbers', column 'id': expected string (not nullable), got 1 null value(s) (first null at batch row 1)", e.InnerException!.Message);
    }

    [Fact]
    public void OpeningAnOutputThatWasNeverRunSaysHowToProduceIt()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Store.OpenTable(Build(), "add.numbers"));
        Assert.Equal($"stage 'add' of pipeline 'e' has not been materialised in store {Store.Root}; run `iwsft run e --until add` first", e.Message);
        Assert.Equal("stage 'add' has no output 'nums'; outputs: numbers", Assert.Throws<ArgumentException>(() => Store.OpenTable(Build(), "add.nums")).Message);
    }

    /// <summary>A StageDataflow transform whose output lacks 'x': the writer rejects the first batch.</summary>
    sealed class DropsColumn(string name) : Stage<Empty>(name)
    {
        public override string Kind => "test.drops-column";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];
        public override Task RunAsync(IStageContext ctx) =>
            StageDataflow.TransformAsync(ctx.ReadTable("numbers"), ctx.WriteTable("numbers"), b =>
            {
                var schema = new Schema.Builder().Field(b.Schema.GetFieldByName("id")).Field(b.Schema.GetFieldByName("value")).Build();
                return new RecordBatch(schema, [b.Col("id"), b.Col("value")], b.Length);
            }, ctx.Execution with { BoundedCapacity = 1, MaxDegreeOfParallelism = 1 }, ctx.CancellationToken);
    }

    [Fact]
    public async Task AWriterErrorInsideATransformFailsTheStageInsteadOfHangingTheReader()
    {
        var p = new Pipeline("w");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 100_000 }));
        p.Add(new DropsColumn("drop")).From("numbers", src["numbers"]);
        var run = Run(p, new RunOptions { Execution = new ExecutionOptions { BatchRows = 1000 } });
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(HangGuard.Limit)));   // a hang fails, not blocks, the suite
        var e = await Assert.ThrowsAsync<StageFailedException>(() => run);
        Assert.Equal("schema mismatch in stage 'drop', artifact 'drop.numbers', column 'x': expected float64, got missing (columns present: id, value)", e.InnerException!.Message);
    }
}

public class StageKindStyleTests
{
    sealed class Named(string name, string kind) : Stage<Empty>(name)
    {
        public override string Kind => kind;
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("out", "example_numbers")];
        public override Task RunAsync(IStageContext ctx) => Task.CompletedTask;
    }

    [Theory]
    [InlineData("ingest")]
    [InlineData("curate-filter")]
    [InlineData("ref-logprobs")]
    [InlineData("demo.verify")]
    [InlineData("my-curation.min-words")]
    [InlineData("s1k-select")]
    public void KindsInTheHouseStyleAreAccepted(string kind)
    {
        Assert.True(StageKinds.IsValid(kind));
        new Pipeline("p").Add(new Named("s", kind));
    }

    [Theory]
    [InlineData("ref_logprobs")]
    [InlineData("Ingest")]
    [InlineData("demo.verify.extra")]
    [InlineData("-filter")]
    [InlineData("filter-")]
    [InlineData("a--b")]
    [InlineData(".verify")]
    [InlineData("demo.")]
    [InlineData("")]
    [InlineData("1st")]
    public void AKindInAnotherStyleIsRefusedWhenAdded(string kind)
    {
        Assert.False(StageKinds.IsValid(kind));
        var p = new Pipeline("p");
        var e = Assert.Throws<ArgumentException>(() => p.Add(new Named("s", kind)));
        Assert.StartsWith($"stage 's' (Named): kind '{kind}' does not follow the naming style", e.Message);
        Assert.Empty(p.Stages);
    }
}
