using System.Globalization;
using System.Text.RegularExpressions;
using IwSft.Pipelines.Demo;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Tests;

/// <summary>Runs the quick demo once into a temporary store; the tests below inspect that run and rerun it.</summary>
public sealed class QuickDemoRun : IAsyncLifetime
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "iwsft-demo-e2e-" + Guid.NewGuid().ToString("N"));
    public ArtifactStore Store { get; private set; } = null!;
    public Pipeline Pipeline { get; private set; } = null!;
    public RunResult First { get; private set; } = null!;

    public Pipeline Build() => new DemoPipeline().Build(new PipelineBuildOptions { Quick = true });

    public async Task InitializeAsync()
    {
        Store = new ArtifactStore(Path.Combine(Root, "store"));
        Pipeline = Build();
        First = await new PipelineRunner(Store).RunAsync(Pipeline);
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}

[Collection("demo")]
public sealed class DemoPipelineTests(QuickDemoRun demo) : IClassFixture<QuickDemoRun>
{
    [Fact]
    public void Every_stage_runs_and_every_table_validates_against_its_schema()
    {
        Assert.True(demo.First.Succeeded, string.Join("; ", demo.First.Stages.Values.Where(s => s.Error != null).Select(s => $"{s.Name}: {s.Error}")));
        foreach (var stage in demo.Pipeline.Stages)
        {
            Assert.Equal(StageStatus.Ran, demo.First.Stages[stage.Name].Status);
            foreach (var port in stage.Outputs.Where(o => o.Kind == ArtifactKind.Table))
            {
                var table = demo.Store.OpenTable(demo.Pipeline, $"{stage.Name}.{port.Name}");
                TableSchema.Get(port.Schema!).Validate(table.Schema, stage.Name, port.Name);
            }
        }
        // The six stage kinds of the framework all ran for real.
        var kinds = demo.Pipeline.Stages.Select(s => s.Kind).ToHashSet();
        foreach (var kind in new[] { "ingest", "decontaminate", "curate-filter", "format-sequences", "ref-logprobs", "train", "evaluate", "eval-report" })
            Assert.Contains(kind, kinds);
    }

    [Fact]
    public async Task Held_out_problems_are_not_contaminated_and_D_plus_is_exactly_the_correct_samples()
    {
        Assert.Equal(0, demo.First.Stages["decontaminate"].Metrics["contaminated"]);
        long correct = 0, rows = 0;
        await foreach (var b in demo.Store.OpenTable(demo.Pipeline, "verify.verified").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++) { rows++; if (b.GetBool("correct", r) == true) correct++; }
        Assert.Equal(DemoSettings.Quick.TrainProblems * DemoSettings.Quick.SamplesPerProblem, rows);
        Assert.Equal(correct, demo.Store.OpenTable(demo.Pipeline, "filter.records").RowCount);
        Assert.Equal(rows, demo.Store.OpenTable(demo.Pipeline, "filter.decisions").RowCount);
    }

    [Fact]
    public async Task Report_numbers_come_from_the_evaluation_results()
    {
        // Recompute greedy accuracy per checkpoint from the raw results and compare with the summary table and report.
        var tally = new Dictionary<string, (int N, int Correct)>();
        await foreach (var b in demo.Store.OpenTable(demo.Pipeline, "evaluate_greedy.results").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++)
            {
                var (n, c) = tally.GetValueOrDefault(b.GetString("checkpoint", r)!);
                tally[b.GetString("checkpoint", r)!] = (n + 1, c + (b.GetBool("correct", r) == true ? 1 : 0));
            }
        Assert.Equal(1 + DemoPipeline.Methods.Length * DemoSettings.Quick.Seeds.Count, tally.Count);
        var summary = new Dictionary<string, double>();
        await foreach (var b in demo.Store.OpenTable(demo.Pipeline, "report.summary").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++) summary[b.GetString("checkpoint", r)!] = b.GetDouble("greedy_accuracy", r)!.Value;
        foreach (var (label, (n, c)) in tally)
        {
            Assert.Equal(DemoSettings.Quick.EvalProblems, n);
            Assert.Equal((double)c / n, summary[label], 12);
        }
        var report = File.ReadAllText(Path.Combine(demo.Store.GetDirectory(demo.Pipeline, "report.report"), "report.md"));
        foreach (var method in DemoPipeline.Methods)
        {
            var values = tally.Where(kv => kv.Key.StartsWith(method + "_s", StringComparison.Ordinal) && !kv.Key[(method.Length + 2)..].Contains('_'))
                .Select(kv => (double)kv.Value.Correct / kv.Value.N).ToList();
            double mean = values.Average();
            Assert.Matches(new Regex($@"\| {method} \| [0-9,]+ \| {Regex.Escape(mean.ToString("0.000", CultureInfo.InvariantCulture))} ± "), report);
        }
        Assert.True(File.Exists(Path.Combine(demo.Store.GetDirectory(demo.Pipeline, "report.report"), "accuracy.png")));
        Assert.Contains($"D+ after the filter (the fine-tuning data): {demo.Store.OpenTable(demo.Pipeline, "filter.records").RowCount} samples", report);
        Assert.Contains("**0 contaminated**", report);
    }

    [Fact]
    public async Task Immediate_rerun_is_fully_cached_and_a_filter_change_reruns_only_its_descendants()
    {
        var cached = await new PipelineRunner(demo.Store).RunAsync(demo.Build());
        Assert.All(cached.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        // (How fast a cached rerun is belongs to `iwsft bench engine`, not to a timed assertion here.)

        // min_quality = 0.5 is the verifier's floor for a right answer: the filter's configuration (and so its key)
        // changes, its output does not. Status shows the filter and everything below it stale beforehand; the
        // run recomputes only the filter, and the descendants are then found in the cache because the engine
        // keys them on content, not on the upstream's configuration.
        var options = new RunOptions { Overrides = ["filter.min_quality=0.5"] };
        var pipeline = demo.Build();
        var status = new PipelineRunner(demo.Store, options).Status(pipeline);
        var descendants = Descendants(pipeline, "filter");
        foreach (var s in status.Stages)
            Assert.Equal(descendants.Contains(s.Stage) ? StageState.Stale : StageState.UpToDate, s.State);
        Assert.Contains(status["filter"].Reasons, r => r.Contains("min_quality"));

        var partial = await new PipelineRunner(demo.Store, options).RunAsync(demo.Build());
        Assert.Equal(StageStatus.Ran, partial.Stages["filter"].Status);
        Assert.All(partial.Stages.Values.Where(s => s.Name != "filter"), s => Assert.Equal(StageStatus.Cached, s.Status));

        // Back to the defaults: only the filter's key changes back, everything is cached again.
        var restored = await new PipelineRunner(demo.Store).RunAsync(demo.Build());
        Assert.All(restored.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
    }

    static HashSet<string> Descendants(Pipeline p, string stage)
    {
        var set = new HashSet<string> { stage };
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var s in p.Stages)
                if (!set.Contains(s.Name) && s.Bindings.Values.Any(b => set.Contains(b.Stage.Name))) grew = set.Add(s.Name) || grew;
        }
        return set;
    }
}
