using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Training;

namespace IwSft.Stages.Tests.Training;

/// <summary>The train stage's optimiser_state_on_host option reaches AdamW, streams its state in chunks, and changes no bit of the model.</summary>
public sealed class TrainStageOffloadTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-train-offload-" + Guid.NewGuid().ToString("N")[..8]);
    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    const long Chunk = 1000;

    static TrainStageConfig Config() => new()
    {
        Trainer = new TrainerConfig { Loss = LossKind.Sft, LearningRate = 1e-3, WeightDecay = 0.1, GlobalBatchSize = 4, MicroBatchSize = 2, Epochs = 1, Seed = 9 },
    };

    [Fact]
    public async Task State_on_host_set_with_the_cli_override_gives_the_same_model_and_streams_every_parameter_in_chunks()
    {
        var baseModel = Path.Combine(_root, "base");
        Checkpoint.WriteRandom(baseModel, TransformerConfig.Preset("tiny", vocabSize: 32), 21);
        var rows = TrainingStageTests.Rows(8, seed: 6);

        async Task<StageTestContext> Train(TrainStage stage)
        {
            var ctx = new StageTestContext(stage).Table("sequences", TrainingStageTests.Sequences(rows)).Dir("base_model", baseModel);
            await stage.RunAsync(ctx);
            return ctx;
        }

        var plain = new TrainStage(config: Config());
        // The same keys a user writes: --set train.trainer.optimiser_state_on_host=true (snake_case, nested under trainer).
        var pipeline = new Pipeline("offload");
        var offloaded = pipeline.Add(new TrainStage(config: Config()));
        ConfigOverrides.Apply(pipeline, ["train.trainer.optimiser_state_on_host=true", $"train.trainer.optimiser_offload_chunk_elements={Chunk}"]);
        Assert.True(offloaded.Config.Trainer.OptimiserStateOnHost);
        Assert.False(plain.Config.Trainer.OptimiserStateOnHost);   // off by default

        using var a = await Train(plain);
        using var b = await Train(offloaded);
        Assert.Contains(b.Logs, l => l.StartsWith("optimiser state on host") && l.Contains($"chunks of at most {Chunk} elements"));
        Assert.DoesNotContain(a.Logs, l => l.StartsWith("optimiser state on host"));
        Assert.False(a.Metrics.ContainsKey("optimiser_chunks_streamed"));

        // Every parameter gets a gradient in the transformer, so each step streams Σ ceil(numel / 1000) chunks; 8 / 4 = 2 steps.
        using (var initial = Checkpoint.Load(baseModel))
        {
            long perStep = initial.TrainableParameters().Sum(p => (p.numel() + Chunk - 1) / Chunk);
            Assert.True(initial.TrainableParameters().Any(p => p.numel() > Chunk), "some parameter must span several chunks");
            Assert.Equal(2 * perStep, b.Metrics["optimiser_chunks_streamed"]);
        }
        var ma = a.Output("metrics").Single();
        var mb = b.Output("metrics").Single();
        for (int r = 0; r < ma.Length; r++) Assert.Equal(ma.GetDouble("loss", r), mb.GetDouble("loss", r));
        using var m1 = Checkpoint.Load(a.OutputDirectory("model"));
        using var m2 = Checkpoint.Load(b.OutputDirectory("model"));
        foreach (var (p, q) in m1.parameters().Zip(m2.parameters())) Assert.Equal(p.data<float>().ToArray(), q.data<float>().ToArray());
    }
}
