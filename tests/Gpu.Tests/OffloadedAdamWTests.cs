using IwSft.Gpu.Training;
using AdamW = IwSft.Gpu.Training.AdamW;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>
/// AdamW with its state in host memory, streamed through the device in chunks, is the on-device AdamW bit for bit.
/// On CPU host and device coincide, so the tests also check that the chunked path really ran (its chunk counter).
/// </summary>
public sealed class OffloadedAdamWTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "iwsft-offload-" + Guid.NewGuid().ToString("N")[..8]);
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    [Fact]
    public void Chunks_cover_the_parameter_in_order_with_the_remainder_last()
    {
        Assert.Equal([(0L, 8L), (8, 8), (16, 8), (24, 8), (32, 3)], AdamW.OffloadChunks(35, 8));
        Assert.Equal([(0L, 8L), (8, 8)], AdamW.OffloadChunks(16, 8));
        Assert.Equal([(0L, 5L)], AdamW.OffloadChunks(5, 64));
        Assert.Empty(AdamW.OffloadChunks(0, 8));
        // Qwen2.5-32B's embedding (152,064 × 5,120) in 64 Mi-element chunks: 11 full chunks and a remainder.
        var embedding = AdamW.OffloadChunks(152_064L * 5_120, AdamW.DefaultOffloadChunkElements).ToList();
        Assert.Equal(12, embedding.Count);
        Assert.Equal(152_064L * 5_120 - 11 * (64L << 20), embedding[^1].Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([], stateOnHost: true, offloadChunkElements: 0));
    }

    /// <summary>A [7, 5] matrix (35 elements: chunks of 8 leave 3), a vector, a bf16 [4, 3] with an fp32 master, and one without a gradient.</summary>
    static List<Parameter> Parameters()
    {
        using var generator = new Generator(7, CPU);
        Parameter Make(long[] shape, ScalarType dtype) => new(randn(shape, ScalarType.Float32, generator: generator).to(dtype));
        return [Make([7, 5], ScalarType.Float32), Make([3], ScalarType.Float32), Make([4, 3], ScalarType.BFloat16), Make([2, 2], ScalarType.Float32)];
    }

    /// <summary>Gradient of Σ sin(p)·p² + p (differs per element and per step) for the first three parameters.</summary>
    static void Backward(IReadOnlyList<Parameter> ps)
    {
        foreach (var p in ps) { using var g = p.grad; g?.zero_(); }
        using var loss = ps.Take(3).Select(p => { var x = p.to(ScalarType.Float32); return (x.sin() * x * x + x).sum(); }).Aggregate((a, b) => a + b);
        loss.backward();
    }

    static void Train(AdamW adam, IReadOnlyList<Parameter> ps, int steps, int firstStep = 0)
    {
        for (int s = firstStep; s < firstStep + steps; s++)
        {
            Backward(ps);
            adam.Step(0.05 / (1 + s));   // a changing learning rate, as under a schedule
        }
    }

    static float[][] Values(IEnumerable<Tensor> ts) => ts.Select(t => t.detach().to(ScalarType.Float32).data<float>().ToArray()).ToArray();

    [Fact]
    public void Offloaded_state_gives_bit_identical_parameters_and_moments()
    {
        var onDevice = Parameters();
        var offloaded = Parameters();
        using var a = new AdamW(onDevice, weightDecay: 0.1);
        using var b = new AdamW(offloaded, weightDecay: 0.1, stateOnHost: true, offloadChunkElements: 8);
        Train(a, onDevice, 6);
        Train(b, offloaded, 6);

        Assert.Equal(Values(onDevice), Values(offloaded));
        Assert.Equal(Values(a.StateTensors()), Values(b.StateTensors()));   // m, v and the bf16 parameter's master
        Assert.Equal(2 * 4 + 1, b.StateTensors().Count);
        Assert.NotEqual(Values(Parameters()), Values(offloaded));            // the updates did something
        // Chunks per step: [7,5] → 5, [3] → 1, [4,3] → 2; the parameter without a gradient is skipped. 8 × 6 steps.
        Assert.Equal(48, b.ChunksStreamed);
        Assert.Equal(0, a.ChunksStreamed);
        Assert.True(b.StateOnHost);
        Assert.False(b.PinnedState);   // nothing to pin for: no parameter is on CUDA
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal(TorchSharp.DeviceType.CPU, b.StateDevice(i).type));
    }

    [Fact]
    public void Chunk_boundaries_that_split_vectorised_kernels_change_no_bit()
    {
        // 11,137 elements in chunks of 999: the boundaries fall mid-vector, so elements move between the CPU kernels'
        // vectorised body and their scalar tails, and the whole-tensor update is split across threads differently.
        List<Parameter> Make() { using var g = new Generator(3, CPU); return [new Parameter(randn([301, 37], ScalarType.Float32, generator: g))]; }
        var onDevice = Make();
        var offloaded = Make();
        using var a = new AdamW(onDevice, weightDecay: 0.1);
        using var b = new AdamW(offloaded, weightDecay: 0.1, stateOnHost: true, offloadChunkElements: 999);
        Train(a, onDevice, 5);
        Train(b, offloaded, 5);
        Assert.Equal(Values(onDevice), Values(offloaded));
        Assert.Equal(5 * 12, b.ChunksStreamed);   // ceil(11,137 / 999) = 12 per step
    }

    [Fact]
    public void Offloaded_state_saves_and_resumes_bit_for_bit()
    {
        var straight = Parameters();
        using var a = new AdamW(straight, weightDecay: 0.1);
        Train(a, straight, 8);

        var first = Parameters();
        using var b = new AdamW(first, weightDecay: 0.1, stateOnHost: true, offloadChunkElements: 8);
        Train(b, first, 4);
        var saved = new MemoryStream();
        using (var writer = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            TensorFile.Write(writer, first);
            TensorFile.Write(writer, b.StateTensors());
        }

        // Fresh parameters from another seed and a fresh offloaded optimiser with a different chunk size: everything comes from the save.
        using var generator = new Generator(99, CPU);
        var resumed = Parameters();
        using (no_grad()) foreach (var p in resumed) p.copy_(randn(p.shape, ScalarType.Float32, generator: generator));
        using var c = new AdamW(resumed, weightDecay: 0.1, stateOnHost: true, offloadChunkElements: 5);
        saved.Position = 0;
        using (var reader = new BinaryReader(saved))
        {
            TensorFile.ReadInto(reader, resumed, "parameters");
            TensorFile.ReadInto(reader, c.StateTensors(), "optimiser");
        }
        c.LoadState(b.StepCount, c.StateTensors());
        Train(c, resumed, 4, firstStep: 4);

        Assert.Equal(8, c.StepCount);
        Assert.Equal(Values(straight), Values(resumed));
        Assert.Equal(Values(a.StateTensors()), Values(c.StateTensors()));
    }

    static TrainerConfig Config(bool onHost) => new()
    {
        Loss = LossKind.IwSftSequence, LearningRate = 1e-2, GlobalBatchSize = 4, MicroBatchSize = 2, Epochs = 2, Seed = 11,
        WeightDecay = 0.01, OptimiserStateOnHost = onHost, OptimiserOffloadChunkElements = 5,
    };

    static float[] Flat(TinyLanguageModel m) => m.TrainableParameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Fact]
    public void Trainer_with_state_on_host_resumes_exactly_and_matches_the_on_device_run()
    {
        var data = TrainerTests.Data();
        var straight = new TinyLanguageModel();
        using (var t = new Trainer(straight, data, Config(onHost: false))) t.Run(null);

        // Half the run on the device; the checkpoint resumes with the state on the host (the fingerprint ignores placement).
        using (var t = new Trainer(new TinyLanguageModel(), data, Config(onHost: false))) t.Run(_dir, stopAfterStep: 3);
        var resumed = new TinyLanguageModel(seed: 99);
        using var trainer = new Trainer(resumed, data, Config(onHost: true));
        trainer.LoadCheckpoint(Trainer.LatestCheckpoint(_dir)!);
        trainer.Run(_dir);
        Assert.Equal(Flat(straight), Flat(resumed));

        var adam = Assert.IsType<AdamW>(trainer.Optimiser);
        Assert.True(adam.StateOnHost);
        // TinyLanguageModel: embedding 11×8 (88 → 18 chunks of 5), head 11×8 (18) and bias 11 (3): 39 per step, 3 steps here.
        Assert.Equal(3 * 39, adam.ChunksStreamed);

        // Sgd has no state to offload: a clear configuration error, not a silent no-op.
        var sgd = Config(onHost: true);
        sgd.Optimiser = OptimiserKind.Sgd;
        Assert.Contains("optimiser_state_on_host", Assert.Throws<ArgumentException>(() => sgd.Validate()).Message);
    }
}
