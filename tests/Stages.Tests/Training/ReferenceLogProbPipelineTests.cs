using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Stages.Training;

namespace IwSft.Stages.Tests.Training;

/// <summary>
/// ref_logprobs under the real engine (PipelineRunner, artifact store, on-disk record memo) with a tiny random
/// checkpoint: its throughput knobs reuse every scored record; the sequences, the reference model and the dtypes
/// decide them.
/// </summary>
public sealed class ReferenceLogProbPipelineTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-ref-pipeline-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    public sealed class SequencesSourceConfig { public int Count { get; set; } = 6; }

    /// <summary>The first <c>count</c> rows of <see cref="TrainingStageTests.Rows"/> (a grown count keeps the earlier rows).</summary>
    sealed class SequencesSource(string name) : Stage<SequencesSourceConfig>(name)
    {
        public override string Kind => "test.sequences";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("sequences", "sequences")];
        public override async Task RunAsync(IStageContext ctx)
        {
            await using var w = ctx.WriteTable("sequences");
            await w.WriteAsync(TrainingStageTests.Sequences(TrainingStageTests.Rows(Config.Count)));
        }
    }

    public sealed class RandomModelConfig { public long Seed { get; set; } = 7; }

    /// <summary>A tiny random checkpoint; its seed decides its content.</summary>
    sealed class RandomModel(string name) : Stage<RandomModelConfig>(name)
    {
        public override string Kind => "test.random-model";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("model")];
        public override Task RunAsync(IStageContext ctx)
        {
            Checkpoint.WriteRandom(ctx.OutputDirectory("model"), TransformerConfig.Preset("tiny", vocabSize: 32), Config.Seed);
            return Task.CompletedTask;
        }
    }

    static Pipeline Build()
    {
        var p = new Pipeline("ref-test");
        var sequences = p.Add(new SequencesSource("sequences"));
        var model = p.Add(new RandomModel("model"));
        p.Add(new ReferenceLogProbStage("ref_logprobs", new ReferenceLogProbConfig { BatchSize = 4, ChunkSize = 3 }))
            .From("sequences", sequences["sequences"]).From("reference_model", model["model"]);
        return p;
    }

    PipelineRunner Runner(params string[] overrides) =>
        new(new ArtifactStore(Path.Combine(_root, "store")), new RunOptions { Overrides = overrides, Execution = new ExecutionOptions { MaxDegreeOfParallelism = 1 } });

    static (double Reused, double Computed) Counts(RunResult r) =>
        (r.Stages["ref_logprobs"].Metrics[RecordMemoLoop.ReusedMetric], r.Stages["ref_logprobs"].Metrics[RecordMemoLoop.ComputedMetric]);

    static string Output(RunResult r) => r.Stages["ref_logprobs"].Outputs["ref_logprobs"].Hash;

    [Fact]
    public async Task EveryThroughputKnobReusesEveryScoredRecord()
    {
        var first = await Runner().RunAsync(Build());
        Assert.Equal((0, 6), Counts(first));

        // cuda:1 does not exist here: the run succeeds only because no record needs the model, which is never loaded.
        var knobs = new Dictionary<string, string> { ["batch_size"] = "1", ["chunk_size"] = "1", ["device"] = "cuda:1", ["devices"] = "[\"cuda:1\", \"cuda:2\"]" };
        // In process, the whole (null) 'server' setting is left out too, so records keep the keys they had before it existed.
        Assert.Equal(new ReferenceLogProbStage().NotInRecordKey.Order(), knobs.Keys.Append("server").Order());
        foreach (var (knob, value) in knobs)
        {
            var r = await Runner($"ref_logprobs.{knob}={value}").RunAsync(Build());
            Assert.Equal(StageStatus.Ran, r.Stages["ref_logprobs"].Status);
            Assert.Equal((6, 0), Counts(r));
            Assert.Equal(Output(first), Output(r));
        }
        var all = await Runner("ref_logprobs.batch_size=2", "ref_logprobs.chunk_size=5", "ref_logprobs.device=cuda:1").RunAsync(Build());
        Assert.Equal((6, 0), Counts(all));
    }

    [Fact]
    public async Task NewSequencesTheReferenceModelAndTheDTypeDecideRecords()
    {
        var first = await Runner().RunAsync(Build());
        Assert.Equal((0, 6), Counts(first));

        var grown = await Runner("sequences.count=9", "ref_logprobs.batch_size=2").RunAsync(Build());
        Assert.Equal((6, 3), Counts(grown));

        var otherModel = await Runner("sequences.count=9", "model.seed=8").RunAsync(Build());
        Assert.Equal((0, 9), Counts(otherModel));

        var bf16 = await Runner("sequences.count=9", "ref_logprobs.param_d_type=bfloat16").RunAsync(Build());
        Assert.Equal((0, 9), Counts(bf16));
        var bf16Compute = await Runner("sequences.count=9", "ref_logprobs.compute_d_type=bfloat16").RunAsync(Build());
        Assert.Equal((0, 9), Counts(bf16Compute));

        // Every earlier combination is still memoised.
        Assert.Equal((9, 0), Counts(await Runner("sequences.count=9", "ref_logprobs.chunk_size=100").RunAsync(Build())));
        Assert.Equal((9, 0), Counts(await Runner("sequences.count=9", "model.seed=8", "ref_logprobs.batch_size=1").RunAsync(Build())));
    }
}
