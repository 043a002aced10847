using System.Globalization;
using System.Text.RegularExpressions;
using IwSft.Cli.Serve;
using IwSft.Gpu.Models;
using IwSft.Pipelines.Demo;
using IwSft.Pipelines.Demo.Stages;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.OpenAi;

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
        Assert.Equal(demo.First.Stages["sample"].Metrics["problems"] * DemoSettings.Quick.SamplesPerProblem, rows);
        Assert.Equal(correct, demo.Store.OpenTable(demo.Pipeline, "filter.records").RowCount);
        Assert.Equal(rows, demo.Store.OpenTable(demo.Pipeline, "filter.decisions").RowCount);
    }

    [Fact]
    public async Task The_reference_is_sampled_only_on_problems_it_was_not_trained_on()
    {
        var clean = new List<string>();
        await foreach (var b in demo.Store.OpenTable(demo.Pipeline, "decontaminate.clean").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++) clean.Add(b.GetString("id", r)!);
        async Task<Dictionary<string, int>> CountByProblem(string artifact)
        {
            var counts = new Dictionary<string, int>();
            await foreach (var b in demo.Store.OpenTable(demo.Pipeline, artifact).ReadBatchesAsync())
                for (int r = 0; r < b.Length; r++) counts[b.GetString("problem_id", r)!] = counts.GetValueOrDefault(b.GetString("problem_id", r)!) + 1;
            return counts;
        }
        var demonstrated = await CountByProblem("demonstrate.demonstrations");
        var sampled = await CountByProblem("sample.samples");

        // The split is the hash rule at the demo's share: demonstrations exactly on the reference's part, samples
        // exactly on the rest, K of each; together every clean problem, no problem in both.
        var expectedReference = clean.Where(id => DemoIds.TrainsReference(id, DemoSettings.Quick.ReferenceShare)).ToHashSet();
        Assert.InRange(expectedReference.Count, 1, clean.Count - 1);
        Assert.Equal(expectedReference.Order(), demonstrated.Keys.Order());
        Assert.Equal(clean.Except(expectedReference).Order(), sampled.Keys.Order());
        Assert.All(demonstrated.Values, n => Assert.Equal(DemoSettings.Quick.DemonstrationsPerProblem + DemoSettings.Quick.DrillsPerProblem, n));
        Assert.All(sampled.Values, n => Assert.Equal(DemoSettings.Quick.SamplesPerProblem, n));
        Assert.Equal(sampled.Count, demo.First.Stages["sample"].Metrics["problems"]);
    }

    [Fact]
    public async Task Drills_are_fresh_word_problems_asked_for_steps_and_answered_with_checked_work()
    {
        Assert.True(DemoSettings.Quick.DrillsPerProblem > 0, "the quick demo should exercise drills");
        var problems = new HashSet<string>();
        await foreach (var b in demo.Store.OpenTable(demo.Pipeline, "decontaminate.clean").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++) problems.Add(b.GetString("question", r)!);
        int drills = 0, behaviours = 0;
        await foreach (var b in demo.Store.OpenTable(demo.Pipeline, "demonstrate.demonstrations").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++)
            {
                var question = b.GetString("question", r)!;
                if (b.GetString("domain", r) != "drill") { behaviours++; Assert.Contains(question, problems); continue; }
                drills++;
                Assert.StartsWith(Demo.Stages.DemonstrateConfig.DrillInstruction, question);
                var problem = ArithmeticTask.Parse(question[Demo.Stages.DemonstrateConfig.DrillInstruction.Length..]);
                Assert.NotNull(problem);
                Assert.DoesNotContain(problem.Question, problems);   // not one of the task's problems (held out or not)
                Assert.Equal(problem.CarefulSolution, b.GetString("trace", r));
                Assert.Equal(new Verdict(true, problem.Answer, true, ArithmeticTask.StepCount), Verifier.Verify(problem, b.GetString("trace", r)!));
            }
        var metrics = demo.First.Stages["demonstrate"].Metrics;
        Assert.Equal(metrics["drills"], drills);
        Assert.Equal(metrics["demonstrations"], behaviours);
        Assert.Equal(metrics["problems"] * DemoSettings.Quick.DrillsPerProblem, drills);
    }

    [Fact]
    public async Task With_no_problem_held_out_sampling_fails_clearly_unless_asked_to_sample_the_training_problems()
    {
        try
        {
            var failed = await Assert.ThrowsAsync<StageFailedException>(() =>
                new PipelineRunner(demo.Store, new RunOptions { Overrides = ["demonstrate.reference_share=1"], Until = "sample" }).RunAsync(demo.Build()));
            Assert.Contains("stage 'sample'", failed.Message);
            Assert.Contains("none is held out", failed.Message);
            Assert.Contains("demonstrate.reference_share", failed.Message);

            // The old demo's sampling: every problem, including the reference's own training problems.
            var old = await new PipelineRunner(demo.Store, new RunOptions { Overrides = ["demonstrate.reference_share=1", "sample.held_out_only=false"], Until = "sample" })
                .RunAsync(demo.Build());
            Assert.True(old.Succeeded);
            Assert.Equal(demo.Store.OpenTable(demo.Pipeline, "decontaminate.clean").RowCount, old.Stages["sample"].Metrics["problems"]);
        }
        finally
        {
            // The other tests read the default run's artifacts: make it the latest again (every stage cached).
            var restored = await new PipelineRunner(demo.Store).RunAsync(demo.Build());
            Assert.All(restored.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        }
    }

    [Fact]
    public void The_reference_share_must_hold_out_some_problems_and_lie_in_the_unit_interval()
    {
        Assert.True(DemoIds.TrainsReference("any", 1.0));
        foreach (var bad in new[] { 0.0, -0.1, 1.5, double.NaN })
            Assert.Contains("reference_share must be in (0, 1]", Assert.Throws<ArgumentException>(() => DemoIds.TrainsReference("any", bad)).Message);
        // Roughly the share of many ids, and the same answer every time (a hash, not a random draw).
        var ids = Enumerable.Range(0, 4000).Select(i => DemoIds.Sha16("problem", i.ToString(CultureInfo.InvariantCulture))).ToList();
        int inShare = ids.Count(id => DemoIds.TrainsReference(id, 0.25));
        Assert.InRange(inShare, 4000 * 0.25 - 4 * Math.Sqrt(4000 * 0.25 * 0.75), 4000 * 0.25 + 4 * Math.Sqrt(4000 * 0.25 * 0.75));
        Assert.Equal(inShare, ids.Count(id => DemoIds.TrainsReference(id, 0.25)));
        Assert.All(ids.Where(id => DemoIds.TrainsReference(id, 0.25)), id => Assert.True(DemoIds.TrainsReference(id, 0.5)));
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

    [Fact]
    public async Task A_sample_batch_size_change_reuses_every_sample_and_leaves_everything_downstream_cached()
    {
        // The samples are memoised per record (model, tokenizer, prompt, sample index, seed), and batching never
        // decides a sample: with another batch size the stage reruns (its configuration changed), computes nothing,
        // writes the same table, and every stage below it is found in the cache by content.
        var before = demo.Store.OpenTable(demo.Pipeline, "sample.samples").ContentHash;
        var rebatched = await new PipelineRunner(demo.Store, new RunOptions { Overrides = ["sample.batch_size=5"] }).RunAsync(demo.Build());
        Assert.True(rebatched.Succeeded);
        var sample = rebatched.Stages["sample"];
        Assert.Equal(StageStatus.Ran, sample.Status);
        Assert.Equal(0, sample.Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.Equal(sample.Metrics["samples"], sample.Metrics[RecordMemoLoop.ReusedMetric]);
        Assert.Equal(before, demo.Store.OpenTable(demo.Pipeline, "sample.samples").ContentHash);
        Assert.All(rebatched.Stages.Values.Where(s => s.Name != "sample"), s => Assert.Equal(StageStatus.Cached, s.Status));

        var restored = await new PipelineRunner(demo.Store).RunAsync(demo.Build());
        Assert.All(restored.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
    }

    [Fact]
    public async Task Samples_drawn_from_the_reference_behind_iwsft_serve_equal_the_in_process_ones()
    {
        // The reference checkpoint and the demo's tokenizer in one directory, as a server loads a model.
        var served = Path.Combine(demo.Root, "served-reference");
        foreach (var artifact in new[] { "train_reference.model", "tokenizer.tokenizer" })
            foreach (var file in Directory.GetFiles(demo.Store.GetDirectory(demo.Pipeline, artifact)))
                File.Copy(file, Path.Combine(Directory.CreateDirectory(served).FullName, Path.GetFileName(file)), overwrite: false);
        await using var server = await OpenAiServer.StartAsync(ServeCommand.Open(served, ModelOptions.Cpu, maxBatch: 8), new ServeOptions { ModelName = "reference", Port = 0 });
        var remote = DemoPipeline.Build("demo", DemoSettings.Quick,
            new OpenAiCompletionGeneratorFactory(new OpenAiGenerationConfig { BaseUrl = server.BaseAddress.ToString(), Model = "reference", MaxConcurrency = 3 }));
        var store = new ArtifactStore(Path.Combine(demo.Root, "served-store"));
        var run = await new PipelineRunner(store, new RunOptions { Until = "sample" }).RunAsync(remote);
        Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Where(s => s.Error != null).Select(s => $"{s.Name}: {s.Error}")));

        async Task<List<(string?, string?, int?, string?)>> Samples(ArtifactStore from, Pipeline p)
        {
            var rows = new List<(string?, string?, int?, string?)>();
            await foreach (var b in from.OpenTable(p, "sample.samples").ReadBatchesAsync())
                for (int r = 0; r < b.Length; r++) rows.Add((b.GetString("id", r), b.GetString("problem_id", r), b.GetInt32("sample", r), b.GetString("trace", r)));
            return rows;
        }
        var expected = await Samples(demo.Store, demo.Pipeline);
        Assert.NotEmpty(expected);
        Assert.Equal(expected, await Samples(store, remote));
        // Sampled at temperature 1 with a seed per sample: a problem's K samples are not all one text.
        Assert.Contains(expected.GroupBy(r => r.Item2), g => g.Select(r => r.Item4).Distinct().Count() > 1);
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
