using System.Text.Json.Nodes;
using Apache.Arrow;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Execution;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>
/// "add" as a user would edit it: same kind, version and configuration as <see cref="AddDelta"/>, the same
/// result, written differently. Swapping it in for AddDelta is what pulling a refactor of a stage kind does.
/// </summary>
public sealed class AddDeltaRewritten(string name, Probe probe, AddConfig? config = null) : Stage<AddConfig>(name, config)
{
    public override string Kind => "test.add";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        await StageDataflow.TransformAsync(ctx.ReadTable("numbers"), ctx.WriteTable("numbers"), b =>
        {
            var values = ((Int64Array)b.Col("value")).Values.ToArray();
            var shifted = new long[values.Length];
            for (int i = 0; i < values.Length; i++) shifted[i] = Config.Delta + values[i];
            return new RecordBatch(b.Schema, [b.Col("id"), new Int64Array.Builder().AppendRange(shifted).Build(), b.Col("x"), b.Col("group")], b.Length);
        }, ctx.Execution, ctx.CancellationToken);
    }
}

/// <summary>Scales values by an injected function: the function is behaviour that decides the output.</summary>
public sealed class ScaleBy(string name, Probe probe, Func<long, long> scale) : Stage<Empty>(name)
{
    [InKey] readonly Func<long, long> _scale = scale;
    [NotInKey("test instrumentation")] readonly Probe _probe = probe;
    public override string Kind => "test.scale";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        _probe.Ran(Name);
        await StageDataflow.TransformAsync(ctx.ReadTable("numbers"), ctx.WriteTable("numbers"), b =>
        {
            var values = ((Int64Array)b.Col("value")).Values.ToArray().Select(_scale);
            return new RecordBatch(b.Schema, [b.Col("id"), new Int64Array.Builder().AppendRange(values).Build(), b.Col("x"), b.Col("group")], b.Length);
        }, ctx.Execution, ctx.CancellationToken);
    }
}

static class Helpers
{
    public static long Twice(long v) => Doubler.Apply(v);
    public static long Unrelated(long v) => v - 7;
}

static class Doubler
{
    public static long Apply(long v) => v * 2;
}

public sealed class CallsHelper : Stage<Empty>
{
    public CallsHelper() : base("helper") { }
    public override string Kind => "test.helper";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [];
    public override Task RunAsync(IStageContext ctx) { ctx.SetMetric("twice", Helpers.Twice(21)); return Task.CompletedTask; }
}

public class CacheIdentityTests : StoreTest
{
    Pipeline Build(bool rewritten = false, Func<long, long>? scale = null)
    {
        var p = new Pipeline("t");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 50 }));
        Stage add = rewritten ? new AddDeltaRewritten("add", Probe) : new AddDelta("add", Probe);
        p.Add(add).From("numbers", src["numbers"]);
        p.Add(new SumValues("sum", Probe)).From("numbers", add["numbers"]);
        p.Add(new KeepOdd("keep", Probe)).From("numbers", src["numbers"]);
        if (scale is not null) p.Add(new ScaleBy("scale", Probe, scale)).From("numbers", src["numbers"]);
        return p;
    }

    [Fact]
    public async Task Editing_a_stage_kind_makes_exactly_it_and_its_descendants_stale_with_reason_code_changed()
    {
        await Run(Build());
        var status = new PipelineRunner(Store).Status(Build(rewritten: true));
        var byName = status.Stages.ToDictionary(s => s.Stage);
        Assert.Equal(StageState.UpToDate, byName["src"].State);
        Assert.Equal(StageState.UpToDate, byName["keep"].State);
        Assert.Equal(StageState.Stale, byName["add"].State);
        Assert.Contains(byName["add"].Reasons, r => r.StartsWith("code changed: ", StringComparison.Ordinal));
        Assert.Equal(StageState.Stale, byName["sum"].State);
        Assert.Contains("upstream stale: add", byName["sum"].Reasons);

        var rerun = await Run(Build(rewritten: true));
        Assert.Equal(StageStatus.Ran, rerun.Stages["add"].Status);
        Assert.StartsWith("code changed: ", rerun.Stages["add"].Reason);
        Assert.Equal(2, Probe.RunsOf("add"));
        Assert.Equal(StageStatus.Cached, rerun.Stages["src"].Status);
        Assert.Equal(StageStatus.Cached, rerun.Stages["keep"].Status);
        // Same rows, so the same content hash: the descendant's key is unchanged and it stays cached.
        Assert.Equal(StageStatus.Cached, rerun.Stages["sum"].Status);

        var manifest = JsonNode.Parse(File.ReadAllText(rerun.ManifestPath))!;
        Assert.Equal(rerun.Stages["add"].Code, (string?)manifest["stages"]!["add"]!["code"]);
        Assert.Equal(StageIdentity.Of(new AddDeltaRewritten("add", Probe)).Code, rerun.Stages["add"].Code);
        Assert.NotEqual(StageIdentity.Of(new AddDelta("add", Probe)).Code, rerun.Stages["add"].Code);
    }

    [Fact]
    public void Code_identity_reaches_helpers_the_stage_calls_and_nothing_else()
    {
        var reached = CodeIdentity.Reach([typeof(CallsHelper)]);
        Assert.Contains(reached, m => m.Contains("Helpers::Int64 Twice(Int64)"));
        Assert.Contains(reached, m => m.Contains("Doubler::Int64 Apply(Int64)"));          // two calls away
        Assert.DoesNotContain(reached, m => m.Contains("Unrelated"));
        Assert.DoesNotContain(reached, m => m.Contains("IwSft.Runtime.PipelineRunner"));    // the engine is not stage code
        Assert.Equal(CodeIdentity.OfType(typeof(CallsHelper)), CodeIdentity.OfType(typeof(CallsHelper)));
        Assert.NotEqual(CodeIdentity.OfType(typeof(CallsHelper)), CodeIdentity.OfType(typeof(AddDelta)));
    }

    [Fact]
    public async Task Injected_behaviour_is_in_the_key()
    {
        await Run(Build(scale: Triple));
        var same = await Run(Build(scale: Triple));
        Assert.Equal(StageStatus.Cached, same.Stages["scale"].Status);

        var other = await Run(Build(scale: Quadruple));
        Assert.Equal(StageStatus.Ran, other.Stages["scale"].Status);
        Assert.Contains("code changed", other.Stages["scale"].Reason);   // another function's code
        Assert.Equal(new long[] { 0, 4, 8 }, (await Values(Build(scale: Quadruple), "scale.numbers")).Take(3));

        long factor = 5;
        Func<long, long> byFactor = v => v * factor;
        await Run(Build(scale: byFactor));
        factor = 6;   // same code, another captured value
        var captured = await Run(Build(scale: byFactor));
        Assert.Equal(StageStatus.Ran, captured.Stages["scale"].Status);
        Assert.Contains("injected behaviour changed: scale", captured.Stages["scale"].Reason);
    }

    static long Triple(long v) => v * 3;
    static long Quadruple(long v) => v * 4;

    [Fact]
    public void Numbers_have_one_spelling_in_keys()
    {
        string C(string json) => Hashing.Canonical(JsonNode.Parse(json));
        Assert.Equal(C("""{"lr":1e-5}"""), C("""{"lr":0.00001}"""));
        Assert.Equal(C("""{"lr":1E-05}"""), C("""{"lr":0.00001}"""));
        Assert.Equal(C("""{"n":2}"""), C("""{"n":2.0}"""));
        Assert.Equal(C("""{"n":2}"""), C("""{"n":2e0}"""));
        Assert.NotEqual(C("""{"lr":1e-5}"""), C("""{"lr":1.00001e-5}"""));
        Assert.Equal("""{"big":9007199254740993}""", C("""{"big":9007199254740993}"""));   // beyond a double's integers: kept exact
    }

    [Fact]
    public async Task A_set_that_leaves_the_effective_configuration_unchanged_keeps_every_key()
    {
        var first = await Run(Build());
        var again = await Run(Build(), new RunOptions { Overrides = ["src.count=50", "add.delta=1", "src.start=0"] });
        Assert.All(again.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        Assert.Equal(first.Stages["add"].Key, again.Stages["add"].Key);
    }

    [Fact]
    public async Task Force_records_recomputes_every_record_and_force_alone_reuses_them()
    {
        Pipeline Memo()
        {
            var p = new Pipeline("m");
            var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 20 }));
            p.Add(new SquareMemo("square", Probe)).From("numbers", src["numbers"]);
            return p;
        }
        await Run(Memo());
        Assert.Equal(20, Probe.Computed);

        var forced = await Run(Memo(), new RunOptions { Force = ["square"] });
        Assert.Equal(StageStatus.Ran, forced.Stages["square"].Status);
        Assert.Equal(20, Probe.Computed);              // the stage ran again, its records came from the memo

        var fresh = await Run(Memo(), new RunOptions { ForceRecords = ["square"] });
        Assert.Equal(StageStatus.Ran, fresh.Stages["square"].Status);
        Assert.Equal(40, Probe.Computed);              // every record recomputed

        await Run(Memo(), new RunOptions { Force = ["square"] });
        Assert.Equal(40, Probe.Computed);              // and the rewritten memo serves the next run
    }

    [Fact]
    public void A_code_identity_alias_applies_only_to_the_identity_it_names()
    {
        var computed = new string('a', 64);
        var alias = new CodeIdentityAliasAttribute(computed[..12], new string('b', 64), "extracted a helper");
        Assert.Equal(new string('b', 64), StageIdentity.ApplyAlias(computed, [alias]).Code);
        Assert.Equal("extracted a helper", StageIdentity.ApplyAlias(computed, [alias]).Reason);
        var changedAgain = new string('c', 64);
        Assert.Equal(changedAgain, StageIdentity.ApplyAlias(changedAgain, [alias]).Code);
        Assert.Null(StageIdentity.ApplyAlias(changedAgain, [alias]).Reason);
        // A prefix shorter than 12 hex characters could match by accident: ignored.
        Assert.Equal(computed, StageIdentity.ApplyAlias(computed, [new CodeIdentityAliasAttribute("aaaa", "b", "x")]).Code);
    }
}
