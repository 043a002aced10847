using IwSft.Runtime;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Reporting;

namespace IwSft.Stages.Tests;

/// <summary>Evaluate + eval_report under the real engine (PipelineRunner, artifact store, record memo).</summary>
public sealed class EvalPipelineTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-eval-pipeline", Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    public sealed class EvalItemsSourceConfig { public int Version { get; set; } = 1; }

    /// <summary>Writes a fixed benchmark_items table (stands in for the ingest stage).</summary>
    internal sealed class ItemsSource(string name) : Stage<EvalItemsSourceConfig>(name)
    {
        public override string Kind => "eval-test.items";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("items", "benchmark_items")];
        public override async Task RunAsync(IStageContext ctx)
        {
            await using var w = ctx.WriteTable("items");
            await w.WriteAsync(EvalStageTests.Items(
                ("1", "toy", "What is 1/2?", "\\frac{1}{2}", null),
                ("2", "toy", "What is 6*7?", "42", null),
                ("3", "mc", "Which?", "C", ["a", "b", "c", "d"])));
        }
    }

    string Checkpoint(string name, string skill)
    {
        var d = Path.Combine(_root, "models", name);
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "skill.txt"), skill);
        File.WriteAllText(Path.Combine(d, "weights.bin"), "weights " + name);
        return d;
    }

    Pipeline Build(EvalFakeGeneratorFactory gen, IEnumerable<(string Label, string Dir)> checkpoints)
    {
        var p = new Pipeline("eval-test");
        var items = p.Add(new ItemsSource("items"));
        var eval = p.Add(new EvaluateStage("evaluate", gen, new EvaluateConfig { SamplesPerItem = 2, Temperature = 1 }, new EvalGoldLeakingFormatter()));
        eval.From(EvaluateStage.ItemsInput, items["items"]);
        foreach (var (label, dir) in checkpoints) eval.AddExternalCheckpoint(label, dir);
        p.Add(new EvalReportStage("report", new EvalReportConfig { PassAtK = 2 })).From(EvalReportStage.ResultsInput, eval[EvaluateStage.ResultsOutput]);
        return p;
    }

    [Fact]
    public async Task BatchRerunEvaluatesOnlyTheNewCheckpointAndTheSummaryIsReadBack()
    {
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var four = new[] { ("sft_s1", Checkpoint("a", "all")), ("sft_s2", Checkpoint("b", "even-seeds")), ("iw_sft_s1", Checkpoint("c", "all")), ("base", Checkpoint("d", "none")) };

        var g1 = new EvalFakeGeneratorFactory();
        var r1 = await new PipelineRunner(store).RunAsync(Build(g1, four));
        Assert.True(r1.Succeeded);
        Assert.Equal(4 * 3 * 2, g1.TotalRequests);

        var g2 = new EvalFakeGeneratorFactory();
        string fresh = Checkpoint("e", "all");
        var p2 = Build(g2, [.. four, ("iw_sft_s2", fresh)]);
        var r2 = await new PipelineRunner(store).RunAsync(p2);
        Assert.Equal(StageStatus.Ran, r2.Stages["evaluate"].Status); // the stage reran (a new external input) ...
        Assert.Equal([fresh], g2.Opens.Keys);                     // ... but only the new checkpoint was loaded
        Assert.Equal(3 * 2, g2.TotalRequests);
        Assert.Equal(5 * 3 * 2, r2.Stages["evaluate"].Rows[EvaluateStage.ResultsOutput]);

        var g3 = new EvalFakeGeneratorFactory();
        var r3 = await new PipelineRunner(store).RunAsync(Build(g3, [.. four, ("iw_sft_s2", fresh)]));
        Assert.Equal(StageStatus.Cached, r3.Stages["evaluate"].Status);
        Assert.Equal(0, g3.TotalRequests);

        var summary = await EvalSummaryReader.ReadAsync(store.OpenTable(p2, "report.summary"));
        var byCkpt = summary.ToDictionary(s => (s.Checkpoint, s.Benchmark));
        Assert.Equal(10, summary.Count);
        Assert.Equal(1.0, byCkpt[("iw_sft_s2", "toy")].Accuracy);
        Assert.Equal(0.0, byCkpt[("base", "mc")].Accuracy);
        Assert.Equal(("iw_sft", 2), (byCkpt[("iw_sft_s2", "toy")].Method, byCkpt[("iw_sft_s2", "toy")].Seed));
        Assert.True(File.Exists(Path.Combine(store.GetDirectory(p2, "report.report"), "report.md")));
    }
}
