using Apache.Arrow;
using IwSft.Pipelines.S1k;
using IwSft.Runtime;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests;
using IwSft.Stages.Tests.Curate;
using Xunit.Abstractions;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// The s1k pipeline definition run end to end on CPU: the same <see cref="S1kPipeline.Build"/> as the 8×H100 run,
/// with settings that point at a small pool derived from the real candidate files, the real AIME24 and MATH500
/// files, a loopback judge, and a tiny random checkpoint.
/// </summary>
public sealed class S1kPipelineTests(ITestOutputHelper output) : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-s1k", Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    static readonly string[] Upstream =
        ["ingest", "benchmarks", "decontaminate", "base_model", "judge_domain", "judge_attempt", "judge_solved_qwen2_5_7b", "judge_solved_qwen2_5_32b", "trace_tokens", "filter"];
    static readonly string[] FromSelection = ["select", "format", "export", "ref_logprobs", "export_iw_sft", "train", "evaluate", "report"];

    S1kSettings CpuSettings(S1kFixtures.PoolFiles pool, string judgeUrl, string model) => new()
    {
        Candidates =
        [
            new IngestSource { Path = pool.Aime, Name = "AIME_1983_2024" },
            new IngestSource { Path = pool.Gsm8k, Name = "gsm8k" },
        ],
        // The real benchmark files; GPQA-Diamond is not in shared data, so the CPU variant lists only these two.
        Benchmarks =
        [
            new IngestSource { Path = "{data}/benchmarks/aime24.jsonl", Name = "aime24", Question = "problem" },
            new IngestSource { Path = "{data}/benchmarks/math500.jsonl", Name = "math500", Question = "problem", ItemId = "unique_id" },
        ],
        Judge = new S1kJudgeSettings
        {
            BaseUrl = judgeUrl, Model = "judge", MaxConcurrency = 4,
            // attempt timeout an hour: no loopback reply times out, however loaded the machine
            Resilience = new JudgeResilienceConfig { MaxRetryAttempts = 1, BaseDelaySeconds = 0.01, AttemptTimeoutSeconds = 3600 },
        },
        Select = new() { TargetSize = 12, UniformUntil = 8, Seed = 3 },
        BaseModel = model,
        BlockSize = 1024,
        Trainer = Recipe(),
        Device = "cpu",
        TrainDevices = ["cpu", "cpu"],                 // the tensor-parallel path of the 8-GPU run, on two CPU shards
        GradientCheckpointing = true,
        CheckpointDirectory = Path.Combine(_root, "train-checkpoints"),
        ReferenceBatchSize = 4,
        Evaluate = new EvaluateConfig { MaxNewTokens = 6, BatchSize = 8, MaxItemsPerBenchmark = 3 },
    };

    static IwSft.Gpu.Training.TrainerConfig Recipe()
    {
        var t = S1kSettings.AuthorsRecipe();
        t.Epochs = 1; t.GlobalBatchSize = 4; t.MicroBatchSize = 2; t.MaxSequenceLength = 1024; t.CheckpointEvery = 0;
        return t;
    }

    [SharedDataFact]
    public async Task CpuVariantRunsEveryStageAndRerunsOnlyWhatTheSelectionTargetChanges()
    {
        var pool = await S1kFixtures.WritePoolAsync(Path.Combine(_root, "pool"));
        var model = S1kFixtures.WriteTinyModel(Path.Combine(_root, "tiny-model"));
        await using var judge = new JudgeTestServer(S1kFixtures.Judge);
        var settings = CpuSettings(pool, judge.BaseUrl, model);
        var pipeline = S1kPipeline.Build("s1k", settings, SharedData.RootWith("benchmarks/aime24.jsonl", "benchmarks/math500.jsonl"));
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var runner = new PipelineRunner(store);

        // 1. First run: every stage of the definition runs.
        var first = await runner.RunAsync(pipeline);
        Assert.True(first.Succeeded);
        Assert.All(pipeline.Stages, s => Assert.Equal(StageStatus.Ran, first.Stages[s.Name].Status));

        foreach (var st in new[] { "decontaminate", "filter", "select", "format" })
            output.WriteLine($"{st}: kept {first.Stages[st].Decisions!.Kept}, " + string.Join(", ", first.Stages[st].Decisions!.ByReason.Select(kv => $"{kv.Key} {kv.Value}")));

        // Decontamination: the AIME 2024 problems in the pool are exactly AIME24 benchmark items → removed.
        var decontam = first.Stages["decontaminate"];
        long clean = decontam.Rows["clean"];
        Assert.True(decontam.Decisions!.ByReason["contaminated"] >= pool.Aime2024Questions.Count);
        var why = await runner.WhyAsync(pipeline, RecordId(pool.Aime2024Questions[0]));
        Assert.Contains(why.Decisions, d => d.Stage == "decontaminate" && !d.Kept && d.Detail!.Contains("aime24"));

        // Featurisation: one call per clean record and judge (domain, attempt, two reference models), never more.
        Assert.Equal(4 * clean, judge.RequestCount);
        // Every clean record got every feature, so the filter drops for difficulty only.
        var filter = first.Stages["filter"].Decisions!;
        Assert.Equal(clean, filter.Kept + filter.ByReason["difficulty"]);
        Assert.Equal(12, first.Stages["select"].Decisions!.Kept);
        Assert.Equal(12, first.Stages["format"].Rows["sequences"]);
        Assert.Equal(12, first.Stages["ref_logprobs"].Rows["ref_logprobs"]);
        Assert.Equal(12, (int)first.Stages["export"].Metrics["rows"]);            // s1K-1.1 layout
        Assert.Equal(12, (int)first.Stages["export_iw_sft"].Metrics["rows"]);     // with ref_log_probs for iw_sft's trainer
        Assert.Equal(3, (int)first.Stages["train"].Metrics["steps"]);              // 12 sequences / global batch 4, 1 epoch
        Assert.Equal(2 * 2 * 3, first.Stages["evaluate"].Rows["results"]);         // {base, iw_sft} × {aime24, math500} × 3 items

        // Schemas: the curated set, every decision table and the evaluation tables.
        await AssertSchema(store, pipeline, "select.records", "features");
        await AssertSchema(store, pipeline, "format.sequences", "sequences");
        foreach (var stage in new[] { "decontaminate", "filter", "select", "format" }) await AssertSchema(store, pipeline, $"{stage}.decisions", "decisions");
        await AssertSchema(store, pipeline, "ref_logprobs.ref_logprobs", "ref_logprobs");
        await AssertSchema(store, pipeline, "train.metrics", "train_metrics");
        await AssertSchema(store, pipeline, "evaluate.results", "eval_results");
        await AssertSchema(store, pipeline, "report.summary", "eval_summary");

        // 2. Change only the selection target: status says selection and everything downstream is stale.
        settings.Select.TargetSize = 10;
        var changed = S1kPipeline.Build("s1k", settings, SharedData.RootWith("benchmarks/aime24.jsonl", "benchmarks/math500.jsonl"));
        var status = runner.Status(changed);
        foreach (var s in Upstream) Assert.True(status[s].State == StageState.UpToDate, $"{s}: {string.Join("; ", status[s].Reasons)}");
        foreach (var s in FromSelection) Assert.Equal(StageState.Stale, status[s].State);
        Assert.Contains(status["select"].Reasons, r => r.Contains("target_size"));
        Assert.Equal(Upstream.Length + FromSelection.Length, changed.Stages.Count);

        // 3. The rerun does exactly that, without a single judge call.
        int callsBefore = judge.RequestCount;
        var second = await runner.RunAsync(changed);
        foreach (var s in Upstream) Assert.Equal(StageStatus.Cached, second.Stages[s].Status);
        foreach (var s in FromSelection) Assert.Equal(StageStatus.Ran, second.Stages[s].Status);
        Assert.Equal(10, second.Stages["format"].Rows["sequences"]);
        Assert.Equal(callsBefore, judge.RequestCount);
        Assert.True(runner.Status(changed).UpToDate);

        // 4. Forcing the judges to run again re-reads their record memos: still no call.
        var forced = await new PipelineRunner(store, new RunOptions { Force = ["judge_domain", "judge_attempt", "judge_solved_qwen2_5_7b", "judge_solved_qwen2_5_32b"] }).RunAsync(changed);
        Assert.Equal(StageStatus.Ran, forced.Stages["judge_domain"].Status);
        Assert.Equal(callsBefore, judge.RequestCount);
        output.WriteLine($"pool {pool.Gsm8kCount + pool.AimeCount}, clean {clean}, judge calls {judge.RequestCount}; " +
                         string.Join(", ", first.Stages.Values.Select(s => $"{s.Name} {s.Duration.TotalSeconds:F1}s")));
    }

    static string RecordId(string question) => RecordMapper.RecordId(question);

    static async Task AssertSchema(ArtifactStore store, Pipeline pipeline, string output, string schemaName)
    {
        var schema = TableSchema.Get(schemaName);
        var table = store.OpenTable(pipeline, output);
        schema.Validate(table.Schema, output, output);
        long rows = 0;
        await foreach (var batch in table.ReadBatchesAsync())
        {
            rows += batch.Length;
            foreach (var column in schema.Columns.Where(c => !c.Nullable))
                Assert.True(batch.Column(batch.Schema.GetFieldIndex(column.Name)).NullCount == 0, $"{output}: nulls in non-nullable column {column.Name}");
        }
        Assert.True(rows > 0, $"{output} is empty");
    }
}
