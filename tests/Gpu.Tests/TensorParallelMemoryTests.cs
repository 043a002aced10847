using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>
/// The memory-saving paths against the plain ones: chunked, vocabulary-sharded target log-probs against
/// <see cref="TokenLogProbs.OfTargets"/> of the full logits, and tensor-parallel gradient checkpointing
/// against no checkpointing — values and gradients with respect to every parameter.
/// </summary>
public class TensorParallelMemoryTests
{
    // Row 0 is left-padded, row 1 right-padded; ids reach both vocabulary shards (61 rows: 31 + 30).
    static readonly long[,] Ids = { { 0, 0, 4, 9, 52, 31, 8, 15 }, { 7, 3, 44, 50, 22, 1, 0, 0 } };
    static readonly long[,] Mask = { { 0, 0, 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1, 1, 0, 0 } };

    static float MaxDiff(Tensor a, Tensor b) => (a.detach().cpu() - b.detach().cpu()).abs().max().item<float>();

    /// <summary>A loss whose gradient reaches every position with a different weight (padded ones included).</summary>
    static Tensor Loss(Tensor logp) => -(logp * arange(1, logp.numel() + 1, ScalarType.Float32).view(logp.shape) / 10).sum();

    static Dictionary<string, Tensor> PlainGradients(Transformer model, Tensor ids, Tensor mask)
    {
        model.zero_grad();
        Loss(TokenLogProbs.OfTargets(model.Forward(ids, mask), ids)).backward();
        return model.named_parameters().ToDictionary(x => x.name, x => x.parameter.grad!.detach().clone());
    }

    static void AssertGradients(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Keys.OrderBy(k => k), actual.Keys.OrderBy(k => k));
        foreach (var (name, g) in expected)
        {
            float diff = MaxDiff(g, actual[name]);
            Assert.True(diff < tolerance, $"{what}, {name}: gradient differs by {diff}");
        }
    }

    [Theory]
    [InlineData(1, true, 5)]    // single-device Transformer, tied embeddings, 5 does not divide the 14 positions
    [InlineData(1, false, 0)]   // one chunk
    [InlineData(2, false, 5)]   // two vocabulary shards of 31 and 30 rows
    [InlineData(2, true, 3)]
    [InlineData(2, false, 100)] // chunk larger than B·(T−1)
    public void ChunkedTargetLogProbsEqualThePlainPath(int degree, bool tied, int chunk)
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied), seed: 51);
        using var ids = tensor(Ids);
        using var mask = tensor(Mask);
        var expectedGrads = PlainGradients(model, ids, mask);
        Tensor expected;
        using (no_grad()) expected = TokenLogProbs.OfTargets(model.Forward(ids, mask), ids);

        model.zero_grad();
        using var tp = degree > 1 ? ModelTestKit.Sharded(ModelTestKit.Tiny(tied), seed: 51, degree) : null;
        var m = tp ?? model;
        var logp = m.TargetLogProbs(ids, mask, chunk);
        Assert.Equal(new long[] { 2, 7 }, logp.shape);
        Assert.True(MaxDiff(expected, logp) < 1e-5, $"log-probs differ by {MaxDiff(expected, logp)}");
        Loss(logp).backward();
        var actual = TensorParallel.Gather(m, p => p.grad);
        AssertGradients(expectedGrads, actual, 1e-5, $"degree {degree}, chunk {chunk}");

        // No gradients: the same values through the scorer's path.
        using (no_grad()) Assert.True(MaxDiff(expected, m.TargetLogProbs(ids, mask, chunk)) < 1e-5);
    }

    [Fact]
    public void TheDefaultTargetLogProbsUseTheConfiguredChunkAndEqualForward()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 52, new ModelOptions(LossChunkTokens: 4));
        Assert.Equal(4, model.LossChunkTokens);
        using var tp = ModelTestKit.Sharded(ModelTestKit.Tiny(), seed: 52, degree: 2, new ModelOptions(LossChunkTokens: 4));
        Assert.Equal(4, tp.LossChunkTokens);
        using var ids = tensor(Ids);
        using var mask = tensor(Mask);
        using var _ = no_grad();
        var expected = TokenLogProbs.OfTargets(model.Forward(ids, mask), ids);
        ICausalLanguageModel single = model, sharded = tp;
        Assert.True(MaxDiff(expected, single.TargetLogProbs(ids, mask)) < 1e-5);
        Assert.True(MaxDiff(expected, sharded.TargetLogProbs(ids, mask)) < 1e-5);
        using var one = tensor(new long[,] { { 5 }, { 9 } });
        Assert.Equal(new long[] { 2, 0 }, sharded.TargetLogProbs(one, null).shape);
        // The full logits of the sharded model are the shards' logits side by side.
        Assert.True(MaxDiff(model.Forward(ids, mask), tp.Forward(ids, mask)) < 1e-5);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void TensorParallelCheckpointingGivesTheSameGradients(int degree)
    {
        var config = ModelTestKit.Tiny(tied: false) with { NumHiddenLayers = 3 }; // 3 layers over 2 home devices: 0, 1, 0
        using var model = Checkpoint.CreateRandom(config, seed: 53);
        using var plain = ModelTestKit.Sharded(config, seed: 53, degree);
        using var recomputed = ModelTestKit.Sharded(config, seed: 53, degree, new ModelOptions(GradientCheckpointing: true));
        plain.train(); recomputed.train();
        using var ids = tensor(Ids);
        using var mask = tensor(Mask);
        Dictionary<string, Tensor> Gradients(Transformer m)
        {
            var loss = Loss(m.TargetLogProbs(ids, mask, 6));
            loss.backward();
            return TensorParallel.Gather(m, p => p.grad);
        }
        var a = Gradients(plain);
        var b = Gradients(recomputed);
        AssertGradients(a, b, 1e-6, $"degree {degree} with vs without checkpointing");
        // And against the single-device model without any of the memory paths.
        AssertGradients(PlainGradients(model, ids, mask), b, 1e-5, $"degree {degree} checkpointed vs single device");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheMemoryPlanPlacesParametersWhereTheModelDoes(bool tied)
    {
        // 3 layers over 2 devices: device 0 is home to layers 0 and 2, device 1 to layer 1; vocabulary 61 = 31 + 30.
        var config = ModelTestKit.Tiny(tied) with { NumHiddenLayers = 3 };
        using var tp = ModelTestKit.Sharded(config, seed: 55, degree: 2);
        long On(int shard) => TensorParallel.ParametersOn(tp, shard).Sum(p => p.numel());
        Assert.Equal(tp.parameters().Sum(p => p.numel()), On(0) + On(1));
        Assert.Equal(tp.parameters().Count(), TensorParallel.ParametersOn(tp, 0).Count() + TensorParallel.ParametersOn(tp, 1).Count());

        var plan = MemoryPlan.Compute(config, 2, blockSize: 10, microBatch: 1, gradientCheckpointing: true, lossChunkTokens: 4);
        var weights = plan.Components.Single(c => c.Name == "weights (fp32)");
        Assert.Equal((4 * On(0), 4 * On(1)), (weights.Device0Bytes, weights.OtherDeviceBytes));
        Assert.Equal(4 * MemoryPlan.ParameterCount(config), weights.HostBytes);      // the train stage's fp32 copy
        var inputs = plan.Components.Single(c => c.Name == "activations: saved layer inputs (bf16)");
        Assert.Equal((2L * 10 * 2 * 32, 1L * 10 * 2 * 32), (inputs.Device0Bytes, inputs.OtherDeviceBytes));
        var chunk = plan.Components.Single(c => c.Name == "log-prob chunk (4 positions × vocabulary shard)");
        Assert.Equal((18L * 4 * 31 + 4L * 4 * 32, 18L * 4 * 30 + 4L * 4 * 32), (chunk.Device0Bytes, chunk.OtherDeviceBytes));
    }

    [Fact]
    public void ReplaysLeaveNoTensorsInTheCallersScope()
    {
        // TorchSharp frees a tensor when its handle goes: whatever a replay registers in the caller's scope lives until
        // that scope ends. The count of live handles after backward must not grow with the number of chunks or layers.
        int HandlesAfterBackward(int layers, int chunk)
        {
            var config = ModelTestKit.Tiny(tied: false) with { NumHiddenLayers = layers };
            using var tp = ModelTestKit.Sharded(config, seed: 56, degree: 2, new ModelOptions(GradientCheckpointing: true));
            using var ids = tensor(Ids);
            using var mask = tensor(Mask);
            using var scope = NewDisposeScope();
            Loss(tp.TargetLogProbs(ids, mask, chunk)).backward();
            return scope.DisposablesCount;
        }
        int baseline = HandlesAfterBackward(layers: 2, chunk: 7);
        Assert.Equal(baseline, HandlesAfterBackward(layers: 2, chunk: 1));   // 14 chunks instead of 2
        Assert.Equal(baseline, HandlesAfterBackward(layers: 5, chunk: 7));   // 5 replayed layers instead of 2
    }

    [Fact]
    public void VocabularyShardsCoverEveryRowOnceAndLayersRotateOverTheDevices()
    {
        Assert.Equal(new long[] { 31, 30 }, Enumerable.Range(0, 2).Select(s => TensorParallel.VocabRows(61, 2, s)));
        Assert.Equal(new long[] { 19008, 19008, 19008, 19008, 19008, 19008, 19008, 19008 },
                     Enumerable.Range(0, 8).Select(s => TensorParallel.VocabRows(152064, 8, s)));
        Assert.Equal(new long[] { 4, 4, 3 }, Enumerable.Range(0, 3).Select(s => TensorParallel.VocabRows(11, 3, s)));
        Assert.Equal(new[] { 0, 1, 2, 0, 1 }, Enumerable.Range(0, 5).Select(l => TensorParallel.HomeOf(l, 3)));

        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied: false), seed: 54);
        using var tp = ModelTestKit.Sharded(ModelTestKit.Tiny(tied: false), seed: 54, degree: 2);
        var shapes = tp.named_parameters().Where(x => x.name.StartsWith("model.embed_tokens.") || x.name.StartsWith("lm_head."))
                       .Select(x => x.parameter.shape[0]).ToList();
        Assert.Equal(new long[] { 31, 30, 31, 30 }, shapes);
        Assert.Equal(model.parameters().Sum(p => p.numel()), tp.parameters().Sum(p => p.numel()));
    }
}
