using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>Degree 2 (two logical shards on the CPU) against degree 1: logits, log-probs, generation, gradients, saving.</summary>
public class TensorParallelTests
{
    static readonly long[,] Ids = { { 0, 0, 4, 9, 22, 31, 8, 15 }, { 7, 3, 4, 50, 22, 1, 19, 6 } };
    static readonly long[,] Mask = { { 0, 0, 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1, 1, 1, 1 } };

    static float MaxDiff(Tensor a, Tensor b) => (a.detach().cpu() - b.detach().cpu()).abs().max().item<float>();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DegreeTwoLogitsAndLogProbsMatchDegreeOne(bool tied)
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied), seed: 41);
        using var tp = ModelTestKit.Sharded(ModelTestKit.Tiny(tied), seed: 41, degree: 2);
        Assert.Equal(2, tp.ShardDevices.Count);
        Assert.IsType<ShardedBlock>(tp.model.layers[1].mlp);
        using var _ = no_grad();
        using var ids = tensor(Ids);
        using var mask = tensor(Mask);
        using var a = model.Forward(ids, mask);
        using var b = tp.Forward(ids, mask);
        Assert.Equal(a.shape, b.shape);
        Assert.True(MaxDiff(a, b) < 1e-5, $"logits differ by {MaxDiff(a, b)}");

        var pairs = new[] { (new[] { 3, 14, 15 }, new[] { 9, 26, 5 }), (new[] { 8 }, new[] { 41, 2 }) };
        var sa = CompletionScorer.Score(model, pairs, 2);
        var sb = CompletionScorer.Score(tp, pairs, 2);
        for (int i = 0; i < pairs.Length; i++)
            for (int j = 0; j < sa[i].Length; j++) Assert.True(Math.Abs(sa[i][j] - sb[i][j]) < 1e-5);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DegreeTwoGreedyGenerationWithTheKvCacheMatchesDegreeOne(bool tied)
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied), seed: 44);
        using var tp = ModelTestKit.Sharded(ModelTestKit.Tiny(tied), seed: 44, degree: 2);
        model.eval(); tp.eval();
        // Left-padded batch of different prompt lengths: the cache slots of both shards of every layer are in use.
        var prompts = new[] { new[] { 5, 17, 3 }, new[] { 44 }, new[] { 60, 2, 9, 30, 1 } };
        var options = new GenerationOptions(MaxNewTokens: 12);
        var ga = TokenGenerator.Generate(model, prompts, options);
        var gb = TokenGenerator.Generate(tp, prompts, options);
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(12, ga[i].Tokens.Length);
            Assert.Equal(ga[i].Tokens, gb[i].Tokens);
        }
    }

    [Fact]
    public void DegreeTwoGradientsMatchDegreeOne()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied: false), seed: 42);
        using var tp = ModelTestKit.Sharded(ModelTestKit.Tiny(tied: false), seed: 42, degree: 2);
        using var ids = tensor(Ids);
        using var mask = tensor(Mask);
        void Backward(ICausalLanguageModel m)
        {
            var logp = TokenLogProbs.OfTargets(m.Forward(ids, mask), ids);
            (-(logp * mask[.., 1..].to(ScalarType.Float32)).sum()).backward();
        }
        Backward(model);
        Backward(tp);
        var gathered = TensorParallel.Gather(tp, p => p.grad);
        Assert.Equal(model.named_parameters().Select(x => x.name), gathered.Keys);   // the HF names, in the plain model's order
        foreach (var (name, p) in model.named_parameters())
        {
            float diff = MaxDiff(p.grad!, gathered[name]);
            Assert.True(diff < 1e-5, $"{name}: gradient differs by {diff}");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ASavedShardedModelIsTheOriginalCheckpoint(bool tied)
    {
        var config = ModelTestKit.Tiny(tied);
        using var model = Checkpoint.CreateRandom(config, seed: 43);
        using var tp = ModelTestKit.Sharded(config, seed: 43, degree: 2);
        var single = ModelTestKit.TempDir();
        var sharded = ModelTestKit.TempDir();
        try
        {
            Checkpoint.Save(model, single);
            Checkpoint.Save(tp, sharded);
            // Same tensors in the same order: the same bytes.
            Assert.Equal(File.ReadAllBytes(Path.Combine(single, Checkpoint.SingleFile)), File.ReadAllBytes(Path.Combine(sharded, Checkpoint.SingleFile)));
        }
        finally { Directory.Delete(single, true); Directory.Delete(sharded, true); }
    }

    [Theory]
    [InlineData(3, "num_key_value_heads 2 is not divisible by the tensor-parallel degree 3")]
    [InlineData(4, "intermediate_size 50 is not divisible by the tensor-parallel degree 4")]
    public void IndivisibleHeadsOrIntermediateAreRejected(int degree, string message)
    {
        var config = ModelTestKit.Tiny() with { NumKeyValueHeads = degree == 4 ? 4 : 2, IntermediateSize = 50 };
        using var model = Checkpoint.CreateRandom(config, seed: 1);
        var e = Assert.Throws<ArgumentException>(() => TensorParallel.Apply(model, Enumerable.Repeat("cpu", degree).ToList()));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void AShardedModelCannotBeShardedAgain()
    {
        using var tp = ModelTestKit.Sharded(ModelTestKit.Tiny(), seed: 1, degree: 2);
        Assert.Throws<InvalidOperationException>(() => TensorParallel.Apply(tp, ["cpu", "cpu"]));
    }
}
