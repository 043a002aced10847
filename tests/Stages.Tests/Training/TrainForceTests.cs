using Apache.Arrow;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using IwSft.Runtime;
using IwSft.Runtime.Store;
using IwSft.Stages.Training;

namespace IwSft.Stages.Tests.Training;

/// <summary>Feeds a fixed table or model directory into a pipeline (test-only source stage).</summary>
sealed class FixedSource(string name, Func<RecordBatch>? table = null, string? schema = null, string? directory = null) : Stage<FixedSource.NoConfig>(name)
{
    public sealed class NoConfig;
    [NotInKey("test input, identified by the content hash of what it writes")] readonly Func<RecordBatch>? _table = table;
    [NotInKey("test input, identified by the content hash of what it writes")] readonly string? _directory = directory;
    public override string Kind => "test.fixed-source";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => _table is not null ? [PortSpec.Table("out", schema!)] : [PortSpec.Dir("out")];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (_table is not null) { await using var w = ctx.WriteTable("out"); await w.WriteAsync(_table(), ctx.CancellationToken); return; }
        var target = ctx.OutputDirectory("out");
        foreach (var f in Directory.GetFiles(_directory!)) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
    }
}

public class TrainForceTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-train-force-").FullName;
    public void Dispose() { try { Directory.Delete(_root, recursive: true); } catch (IOException) { } }

    Pipeline Build(string baseModel, string checkpoints)
    {
        var p = new Pipeline("force");
        var rows = TrainingStageTests.Rows(8);
        var data = p.Add(new FixedSource("data", () => TrainingStageTests.Sequences(rows), "sequences"));
        var model = p.Add(new FixedSource("base", directory: baseModel));
        p.Add(new TrainStage("train_sft", new TrainStageConfig
        {
            Trainer = new TrainerConfig { Loss = LossKind.Sft, LearningRate = 1e-3, GlobalBatchSize = 4, MicroBatchSize = 2, Epochs = 2, Seed = 3, CheckpointEvery = 1 },
            CheckpointDirectory = checkpoints,
        })).From("sequences", data["out"]).From("base_model", model["out"]);
        return p;
    }

    [Fact]
    public async Task Force_trains_from_step_zero_through_the_runner()
    {
        var baseModel = Path.Combine(_root, "base");
        Checkpoint.WriteRandom(baseModel, TransformerConfig.Preset("tiny", vocabSize: 32), 1);
        File.WriteAllText(Path.Combine(baseModel, "tokenizer.json"), "{\"marker\": true}");
        var checkpoints = Path.Combine(_root, "checkpoints");
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var logs = new List<string>();
        var sink = new RecordingSink(logs);

        var first = await new PipelineRunner(store).RunAsync(Build(baseModel, checkpoints));
        Assert.Equal(StageStatus.Ran, first.Stages["train_sft"].Status);
        Assert.NotNull(Trainer.LatestCheckpoint(Directory.GetDirectories(checkpoints).Single()));   // resumable state exists

        var forced = await new PipelineRunner(store, new RunOptions { Force = ["train_sft"], Progress = sink }).RunAsync(Build(baseModel, checkpoints));
        Assert.Equal(StageStatus.Ran, forced.Stages["train_sft"].Status);
        Assert.Equal("forced", forced.Stages["train_sft"].Reason);
        Assert.DoesNotContain(logs, l => l.Contains("resumed from"));
        Assert.Contains(logs, l => l.Contains("training from step 0"));
        Assert.Equal(4, forced.Stages["train_sft"].Metrics["steps_run"]);
        // Same seeds from step 0: the same model.
        Assert.Equal(first.Stages["train_sft"].Outputs["model"].Hash, forced.Stages["train_sft"].Outputs["model"].Hash);
    }

    sealed class RecordingSink(List<string> logs) : IProgressSink
    {
        public void RunStarted(string pipeline, IReadOnlyList<string> stages) { }
        public void StageStarted(string stage) { }
        public void StageProgress(string stage, long done, long? total, string unit) { }
        public void StageLog(string stage, string message) { lock (logs) logs.Add(message); }
        public void StageFinished(StageResult result) { }
        public void RunFinished(RunResult result) { }
    }
}
