using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Training;

namespace IwSft.Stages.Tests.Training;

/// <summary>The train stage over a device list (tensor parallelism, with checkpointing and chunked log-probs) trains the same model as on one device.</summary>
public sealed class TrainStageTensorParallelTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-train-tp-" + Guid.NewGuid().ToString("N")[..8]);
    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    static TrainStageConfig Config(List<string> devices) => new()
    {
        Trainer = new TrainerConfig { Loss = LossKind.IwSftSequence, LearningRate = 1e-3, GlobalBatchSize = 4, MicroBatchSize = 2, Epochs = 1, Seed = 5 },
        Devices = devices,
        // The sharded run also recomputes its layers and takes log-probs 3 positions at a time (default: 2048, no recompute).
        GradientCheckpointing = devices.Count > 1,
        LossChunkTokens = devices.Count > 1 ? 3 : ChunkedLogProbs.DefaultChunkTokens,
    };

    [Fact]
    public async Task Two_shards_give_the_single_device_iw_sft_model()
    {
        var baseModel = Path.Combine(_root, "base");
        Checkpoint.WriteRandom(baseModel, TransformerConfig.Preset("tiny", vocabSize: 32), 11);
        var rows = TrainingStageTests.Rows(8, seed: 4);
        var refStage = new ReferenceLogProbStage();
        using var refCtx = new StageTestContext(refStage).Table("sequences", TrainingStageTests.Sequences(rows)).Dir("reference_model", baseModel);
        await refStage.RunAsync(refCtx);

        async Task<(StageTestContext Ctx, Transformer Model)> Train(List<string> devices)
        {
            var stage = new TrainStage(config: Config(devices));
            var ctx = new StageTestContext(stage).Table("sequences", TrainingStageTests.Sequences(rows))
                .Table("ref_logprobs", refCtx.Output("ref_logprobs").ToArray()).Dir("base_model", baseModel);
            await stage.RunAsync(ctx);
            return (ctx, Checkpoint.Load(ctx.OutputDirectory("model")));
        }

        var (single, m1) = await Train([]);
        var (sharded, m2) = await Train(["cpu", "cpu"]);
        using (single) using (sharded) using (m1) using (m2)
        {
            Assert.Contains(sharded.Logs, l => l.Contains("tensor parallel over cpu, cpu, gradient checkpointing on, loss chunk 3 tokens"));
            Assert.Contains(single.Logs, l => l.Contains("device cpu, gradient checkpointing off, loss chunk 2048 tokens"));
            var a = single.Output("metrics").Single();
            var b = sharded.Output("metrics").Single();
            Assert.Equal(2, b.Length);                                 // 8 sequences / global batch 4
            for (int r = 0; r < a.Length; r++) Assert.Equal(a.GetDouble("loss", r)!.Value, b.GetDouble("loss", r)!.Value, 5);
            // The trained weights differ from the base (lr 1e-3) and agree between the two layouts.
            using var start = Checkpoint.Load(baseModel);
            var p0 = start.named_parameters().First(p => p.name.Contains("mlp.down_proj")).parameter.data<float>().ToArray();
            foreach (var ((name, p), (_, q)) in m1.named_parameters().Zip(m2.named_parameters()))
            {
                var x = p.data<float>().ToArray();
                var y = q.data<float>().ToArray();
                for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - y[i]) < 1e-5, $"{name}[{i}]: {x[i]} vs {y[i]}");
            }
            Assert.NotEqual(p0, m1.named_parameters().First(p => p.name.Contains("mlp.down_proj")).parameter.data<float>().ToArray());
        }
    }

    [Fact]
    public async Task Two_shards_score_the_single_device_reference_log_probs()
    {
        var reference = Path.Combine(_root, "ref");
        Checkpoint.WriteRandom(reference, TransformerConfig.Preset("tiny", vocabSize: 33), 14); // 33 rows: shards of 17 and 16
        var rows = TrainingStageTests.Rows(6, seed: 9);
        async Task<List<float[]>> Score(List<string> devices)
        {
            var stage = new ReferenceLogProbStage(config: new ReferenceLogProbConfig { BatchSize = 4, Devices = devices });
            using var ctx = new StageTestContext(stage).Table("sequences", TrainingStageTests.Sequences(rows)).Dir("reference_model", reference);
            await stage.RunAsync(ctx);
            return ctx.Output("ref_logprobs").SelectMany(b => Enumerable.Range(0, b.Length).Select(r => b.GetFloatList("ref_logprobs", r)!)).ToList();
        }
        var single = await Score([]);
        var sharded = await Score(["cpu", "cpu"]);
        Assert.Equal(rows.Length, sharded.Count);
        for (int i = 0; i < single.Count; i++)
        {
            Assert.Equal(single[i].Length, sharded[i].Length);
            for (int j = 0; j < single[i].Length; j++) Assert.True(Math.Abs(single[i][j] - sharded[i][j]) < 1e-5, $"sequence {i}, token {j}: {single[i][j]} vs {sharded[i][j]}");
        }
    }

    [Fact]
    public async Task A_killed_tensor_parallel_run_resumes_exactly_even_with_the_optimiser_state_moved_to_the_host()
    {
        var baseModel = Path.Combine(_root, "base3");
        Checkpoint.WriteRandom(baseModel, TransformerConfig.Preset("tiny", vocabSize: 32), 13);
        var rows = TrainingStageTests.Rows(8, seed: 8);
        TrainStageConfig Sft(string? checkpoints, bool stateOnHost)
        {
            var c = Config(["cpu", "cpu"]);
            c.Trainer.Loss = LossKind.Sft;
            c.Trainer.Epochs = 2;                  // 4 steps
            c.Trainer.CheckpointEvery = 1;
            c.Trainer.OptimiserStateOnHost = stateOnHost;
            c.Trainer.OptimiserOffloadChunkElements = 777;
            c.CheckpointDirectory = checkpoints;
            return c;
        }
        StageTestContext Context(TrainStage stage, CancellationToken token = default) =>
            new StageTestContext(stage, cancellationToken: token).Table("sequences", TrainingStageTests.Sequences(rows)).Dir("base_model", baseModel);

        var straight = new TrainStage(config: Sft(null, stateOnHost: false));
        using var straightCtx = Context(straight);
        await straight.RunAsync(straightCtx);

        var checkpoints = Path.Combine(_root, "tp-ckpt");
        var killedStage = new TrainStage(config: Sft(checkpoints, stateOnHost: false));
        using var cts = new CancellationTokenSource();
        using (var killed = Context(killedStage, cts.Token))
        {
            killed.OnProgress = step => { if (step == 2) cts.Cancel(); };
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => killedStage.RunAsync(killed));
        }
        // The rerun moves AdamW's moments to the host (what one does after running out of device memory): same run, same bits.
        var resumedStage = new TrainStage(config: Sft(checkpoints, stateOnHost: true));
        using var resumed = Context(resumedStage);
        await resumedStage.RunAsync(resumed);
        Assert.Contains(resumed.Logs, l => l.Contains("resumed from") && l.Contains("step 2"));
        Assert.Contains(resumed.Logs, l => l.StartsWith("optimiser state on host"));
        Assert.True(resumed.Metrics["optimiser_chunks_streamed"] > 0);

        var a = straightCtx.Output("metrics").Single();
        var b = resumed.Output("metrics").Single();
        Assert.Equal(4, b.Length);
        for (int r = 0; r < a.Length; r++) Assert.Equal(a.GetDouble("loss", r), b.GetDouble("loss", r));
        using var m1 = Checkpoint.Load(straightCtx.OutputDirectory("model"));
        using var m2 = Checkpoint.Load(resumed.OutputDirectory("model"));
        foreach (var ((name, p), (_, q)) in m1.named_parameters().Zip(m2.named_parameters()))
            Assert.True(p.data<float>().ToArray().SequenceEqual(q.data<float>().ToArray()), $"{name} differs after the tensor-parallel resume");
    }

    [Fact]
    public async Task Tensor_parallel_refuses_an_ema_proposal()
    {
        var baseModel = Path.Combine(_root, "base2");
        Checkpoint.WriteRandom(baseModel, TransformerConfig.Preset("tiny", vocabSize: 32), 12);
        var config = Config(["cpu", "cpu"]);
        config.Trainer.Proposal = ProposalPolicy.Ema;
        var stage = new TrainStage(config: config);
        using var ctx = new StageTestContext(stage).Table("sequences", TrainingStageTests.Sequences(TrainingStageTests.Rows(4)))
            .Table("ref_logprobs", []).Dir("base_model", baseModel);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => stage.RunAsync(ctx));
        Assert.Contains("tensor parallelism", e.Message);
    }
}
