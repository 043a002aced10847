using IwSft.Core;
using Apache.Arrow;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Training;

namespace IwSft.Stages.Tests.Training;

public class TrainingStageTests : IDisposable
{
    /// <summary>Two rows per output batch, so the reference stage's outputs span several batches.</summary>
    static readonly ExecutionOptions SmallBatches = new() { MaxDegreeOfParallelism = 1, BatchRows = 2 };

    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-train-stage-" + Guid.NewGuid().ToString("N")[..8]);

    public TrainingStageTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    string Model(string name, long seed)
    {
        var dir = Path.Combine(_root, name);
        Checkpoint.WriteRandom(dir, TransformerConfig.Preset("tiny", vocabSize: 32), seed);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"marker\": true}");
        return dir;
    }

    internal static TrainingData.SequenceRow[] Rows(int count, int seed = 1)
    {
        var random = new DeterministicRandom((ulong)seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            int len = 5 + random.NextInt(6);
            var ids = Enumerable.Range(0, len).Select(_ => 1 + random.NextInt(31)).ToArray();
            return new TrainingData.SequenceRow($"seq{i}", ids, 2 + random.NextInt(2), 1 + i % 2);
        }).ToArray();
    }

    internal static RecordBatch Sequences(IEnumerable<TrainingData.SequenceRow> rows)
    {
        var b = new BatchBuilder(TableSchema.Get("sequences"));
        foreach (var r in rows)
        {
            b.Set("id", r.Id).Set("input_ids", r.InputIds).Set("completion_start", r.CompletionStart).Set("num_tokens", r.InputIds.Length)
             .Set("prompt_tokens", r.CompletionStart).Set("completion_tokens", r.InputIds.Length - r.CompletionStart)
             .Set("full_tokens", r.InputIds.Length).Set("truncated", false).Set("sampling_weight", (float)r.SamplingWeight);
            b.EndRow();
        }
        return b.Build();
    }

    static List<(string Id, float[] LogProbs, string ModelHash)> RefRows(StageTestContext ctx) =>
        ctx.Output("ref_logprobs").SelectMany(b => Enumerable.Range(0, b.Length)
            .Select(r => (b.GetString("id", r)!, b.GetFloatList("ref_logprobs", r)!, b.GetString("ref_model_hash", r)!))).ToList();

    [Fact]
    public async Task Reference_log_probs_stream_stored_batches_with_the_values_of_one_batch_and_ids_unique_across_them()
    {
        var reference = Model("ref", 7);
        var rows = Rows(7);
        var stage = new ReferenceLogProbStage(config: new ReferenceLogProbConfig { BatchSize = 2, ChunkSize = 2 });
        using var whole = new StageTestContext(stage).Table("sequences", Sequences(rows)).Dir("reference_model", reference);
        await stage.RunAsync(whole);
        using var streamed = new StageTestContext(stage).Table("sequences", rows.Chunk(3).Select(Sequences)).Dir("reference_model", reference);
        await stage.RunAsync(streamed);
        var a = RefRows(whole);
        var b = RefRows(streamed);
        Assert.Equal(a.Select(x => x.Id), b.Select(x => x.Id));
        for (int i = 0; i < a.Count; i++)
            Assert.Equal(a[i].LogProbs, b[i].LogProbs, (x, y) => Math.Abs(x - y) <= 1e-5f);

        // The same id in a later stored batch is an error naming the row, the id and both places.
        var twice = rows[..3].Concat([rows[1]]).ToArray();
        using var bad = new StageTestContext(stage).Table("sequences", Sequences(twice[..2]), Sequences(twice[2..])).Dir("reference_model", reference);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => stage.RunAsync(bad));
        Assert.Contains("row 3 (id 'seq1'), column id: 'seq1' appears again (first at row 1)", e.Message);
    }

    [Fact]
    public async Task Reference_log_probs_equal_the_scorer_and_only_new_records_are_scored_on_rerun()
    {
        var reference = Model("ref", 7);
        var rows = Rows(5);
        var memo = new TestMemo();
        var stage = new ReferenceLogProbStage(config: new ReferenceLogProbConfig { BatchSize = 2, ChunkSize = 2 });

        using var first = new StageTestContext(stage, memo) { Execution = SmallBatches }.Table("sequences", Sequences(rows[..4])).Dir("reference_model", reference);
        await stage.RunAsync(first);
        Assert.Equal(4, first.Metrics[RecordMemoLoop.ComputedMetric]);
        var written = RefRows(first);
        Assert.Equal(rows[..4].Select(r => r.Id), written.Select(w => w.Id));
        using (var model = Checkpoint.Load(reference))
        {
            var expected = CompletionScorer.Score(model, rows[..4].Select(r => (r.InputIds[..r.CompletionStart], r.InputIds[r.CompletionStart..])).ToList(), 4);
            for (int i = 0; i < 4; i++)
            {
                Assert.Equal(rows[i].InputIds.Length - rows[i].CompletionStart, written[i].LogProbs.Length);
                for (int j = 0; j < expected[i].Length; j++) Assert.Equal(expected[i][j], written[i].LogProbs[j], 5);
            }
        }
        Assert.Single(written.Select(w => w.ModelHash).Distinct());

        // The curated set grows by one record: only that record is scored, the rest come from the memo.
        using var second = new StageTestContext(stage, memo) { Execution = SmallBatches }.Table("sequences", Sequences(rows)).Dir("reference_model", reference);
        await stage.RunAsync(second);
        Assert.Equal(1, second.Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.Equal(4, second.Metrics[RecordMemoLoop.ReusedMetric]);
        Assert.Equal(written[2].LogProbs, RefRows(second)[2].LogProbs);

        // A different reference model never reuses these values: the key holds its content hash.
        var other = Model("ref2", 8);
        using var third = new StageTestContext(stage, memo) { Execution = SmallBatches }.Table("sequences", Sequences(rows)).Dir("reference_model", other);
        await stage.RunAsync(third);
        Assert.Equal(5, third.Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.NotEqual(written[0].ModelHash, RefRows(third)[0].ModelHash);
        Assert.NotEqual(written[0].LogProbs, RefRows(third)[0].LogProbs);
    }

    static TrainStageConfig TrainConfig(LossKind loss, string? checkpoints = null) => new()
    {
        Trainer = new TrainerConfig
        {
            Loss = loss, LearningRate = 1e-3, GlobalBatchSize = 4, MicroBatchSize = 2, Epochs = 2, Seed = 3, CheckpointEvery = 1,
        },
        CheckpointDirectory = checkpoints,
    };

    async Task<StageTestContext> PrecomputeAsync(string reference, TrainingData.SequenceRow[] rows)
    {
        var stage = new ReferenceLogProbStage();
        var ctx = new StageTestContext(stage) { Execution = SmallBatches }.Table("sequences", Sequences(rows)).Dir("reference_model", reference);
        await stage.RunAsync(ctx);
        return ctx;
    }

    [Fact]
    public async Task Iw_sft_training_writes_a_loadable_model_metrics_and_plots_and_matches_a_live_reference()
    {
        var baseModel = Model("base", 1);
        var rows = Rows(8);
        using var refCtx = await PrecomputeAsync(baseModel, rows);

        var stage = new TrainStage(config: TrainConfig(LossKind.IwSftSequence));
        using var ctx = new StageTestContext(stage).Table("sequences", Sequences(rows)).Table("ref_logprobs", refCtx.Output("ref_logprobs").ToArray())
            .Dir("base_model", baseModel);
        await stage.RunAsync(ctx);

        var metrics = ctx.Output("metrics").Single();
        Assert.Equal(4, metrics.Length);   // 2 epochs × 8 / 4
        Assert.Equal(new int?[] { 1, 2, 3, 4 }, Enumerable.Range(0, 4).Select(r => metrics.GetInt32("step", r)));
        // q = π_ref at step 1 (the base model is the reference): every weight is exactly e^0 = 1.
        Assert.Equal(1.0, metrics.GetDouble("w_mean", 0)!.Value, 5);
        Assert.Equal(1.0, metrics.GetDouble("w_max", 0)!.Value, 5);
        Assert.Equal(0.0, metrics.GetDouble("lr", 0)!.Value);   // first warmup step (ceil(0.05·4) = 1 warmup step)
        var modelDir = ctx.OutputDirectory("model");
        Assert.True(File.Exists(Path.Combine(modelDir, "tokenizer.json")));
        using (var trained = Checkpoint.Load(modelDir))
        using (var initial = Checkpoint.Load(baseModel))
            Assert.NotEqual(initial.parameters().First().data<float>().ToArray(), trained.parameters().First().data<float>().ToArray());
        var report = ctx.OutputDirectory("report");
        Assert.True(new FileInfo(Path.Combine(report, TrainingCurve.LossFile)).Length > 1000);
        Assert.True(File.Exists(Path.Combine(report, TrainingCurve.WeightsFile)));

        // Live reference (the same checkpoint) gives the same losses as the precomputed column.
        var liveConfig = TrainConfig(LossKind.IwSftSequence);
        liveConfig.Trainer.Reference = ReferenceSource.Live;
        var live = new TrainStage(config: liveConfig);
        using var liveCtx = new StageTestContext(live).Table("sequences", Sequences(rows)).Dir("base_model", baseModel).Dir("reference_model", baseModel);
        await live.RunAsync(liveCtx);
        var liveMetrics = liveCtx.Output("metrics").Single();
        for (int r = 0; r < 4; r++) Assert.Equal(metrics.GetDouble("loss", r)!.Value, liveMetrics.GetDouble("loss", r)!.Value, 4);
    }

    [Fact]
    public async Task A_killed_run_resumes_from_its_last_checkpoint_to_the_same_model()
    {
        var baseModel = Model("base", 1);
        var rows = Rows(8);

        var straight = new TrainStage(config: TrainConfig(LossKind.Sft));
        using var straightCtx = new StageTestContext(straight).Table("sequences", Sequences(rows)).Dir("base_model", baseModel);
        await straight.RunAsync(straightCtx);

        var checkpoints = Path.Combine(_root, "ckpt");
        var stage = new TrainStage(config: TrainConfig(LossKind.Sft, checkpoints));
        using var cts = new CancellationTokenSource();
        using (var killed = new StageTestContext(stage, cancellationToken: cts.Token).Table("sequences", Sequences(rows)).Dir("base_model", baseModel))
        {
            killed.OnProgress = step => { if (step == 2) cts.Cancel(); };
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stage.RunAsync(killed));
        }
        var runDir = Directory.GetDirectories(checkpoints).Single();   // one subdirectory per run fingerprint
        Assert.EndsWith(Trainer.CheckpointName(2), Trainer.LatestCheckpoint(runDir));
        Assert.True(File.Exists(Path.Combine(Trainer.LatestCheckpoint(runDir)!, Trainer.ModelDirectory, Checkpoint.ConfigFile)));

        using var resumed = new StageTestContext(stage).Table("sequences", Sequences(rows)).Dir("base_model", baseModel);
        await stage.RunAsync(resumed);
        Assert.Contains(resumed.Logs, l => l.Contains("resumed from") && l.Contains("step 2"));
        var a = straightCtx.Output("metrics").Single();
        var b = resumed.Output("metrics").Single();
        Assert.Equal(a.Length, b.Length);
        for (int r = 0; r < a.Length; r++) Assert.Equal(a.GetDouble("loss", r), b.GetDouble("loss", r));
        // A changed configuration never continues this run's state: it starts afresh in its own subdirectory.
        var changedConfig = TrainConfig(LossKind.Sft, checkpoints);
        changedConfig.Trainer.LearningRate = 2e-3;
        var changed = new TrainStage(config: changedConfig);
        using (var changedCtx = new StageTestContext(changed).Table("sequences", Sequences(rows)).Dir("base_model", baseModel))
        {
            await changed.RunAsync(changedCtx);
            Assert.DoesNotContain(changedCtx.Logs, l => l.Contains("resumed from"));
        }
        Assert.Equal(2, Directory.GetDirectories(checkpoints).Length);

        using var m1 = Checkpoint.Load(straightCtx.OutputDirectory("model"));
        using var m2 = Checkpoint.Load(resumed.OutputDirectory("model"));
        foreach (var (p, q) in m1.parameters().Zip(m2.parameters())) Assert.Equal(p.data<float>().ToArray(), q.data<float>().ToArray());
    }

    /// <summary>
    /// A weight clip set the way a user sets it (`--set train.trainer.weight_clip_min=…`) reaches the weights the
    /// trainer applies. At step 1 q = π_ref (the base model is the reference), so every unclipped weight is e^0 = 1:
    /// a minimum above 1 or a maximum below 1 must move all of them to the bound.
    /// </summary>
    [Theory]
    [InlineData("weight_clip_min", 1.5, 1.5)]
    [InlineData("weight_clip_max", 0.5, 0.5)]
    public async Task A_configured_weight_clip_reaches_the_trainers_weights(string key, double value, double expected)
    {
        var baseModel = Model("base", 1);
        var rows = Rows(8);
        using var refCtx = await PrecomputeAsync(baseModel, rows);
        var stage = new TrainStage("train", TrainConfig(LossKind.IwSftSequence));
        var pipeline = new Pipeline("clip");
        pipeline.Add(stage);
        ConfigOverrides.Apply(pipeline, $"train.trainer.{key}={value.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

        using var ctx = new StageTestContext(stage).Table("sequences", Sequences(rows)).Table("ref_logprobs", refCtx.Output("ref_logprobs").ToArray())
            .Dir("base_model", baseModel);
        await stage.RunAsync(ctx);
        var metrics = ctx.Output("metrics").Single();
        Assert.Equal(expected, metrics.GetDouble("w_min", 0)!.Value, 6);
        Assert.Equal(expected, metrics.GetDouble("w_max", 0)!.Value, 6);
        Assert.Equal(expected, metrics.GetDouble("w_mean", 0)!.Value, 6);
    }

    [Fact]
    public async Task Missing_or_stale_reference_log_probs_are_clear_errors()
    {
        var baseModel = Model("base", 1);
        var rows = Rows(4);
        using var refCtx = await PrecomputeAsync(baseModel, rows[..3]);
        var stage = new TrainStage(config: TrainConfig(LossKind.IwSftSequence));
        using var ctx = new StageTestContext(stage).Table("sequences", Sequences(rows)).Table("ref_logprobs", refCtx.Output("ref_logprobs").ToArray())
            .Dir("base_model", baseModel);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => stage.RunAsync(ctx));
        Assert.Contains("seq3", e.Message);
        Assert.Contains("ref_logprobs", e.Message);

        var changed = rows[..3].Select(r => r with { InputIds = r.InputIds.Select(x => x % 31 + 1).ToArray() }).ToArray();
        using var stale = new StageTestContext(stage).Table("sequences", Sequences(changed)).Table("ref_logprobs", refCtx.Output("ref_logprobs").ToArray())
            .Dir("base_model", baseModel);
        Assert.Contains("sequence_hash", (await Assert.ThrowsAsync<InvalidDataException>(() => stage.RunAsync(stale))).Message);

        using var bad = new StageTestContext(stage).Table("sequences", Sequences([rows[0] with { CompletionStart = 0 }])).Dir("base_model", baseModel);
        var badError = await Assert.ThrowsAsync<InvalidDataException>(() => stage.RunAsync(bad));
        Assert.Contains("completion_start", badError.Message);
        Assert.Contains("row 0", badError.Message);
    }
}
