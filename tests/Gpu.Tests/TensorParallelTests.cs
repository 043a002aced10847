using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>Degree 2 (two logical shards on the CPU) against degree 1: logits, log-probs, generation and gradients.</summary>
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
        using var tp = new TensorParallelTransformer(model, new[] { "cpu", "cpu" });
        Assert.Equal(2, tp.Degree);
        using var _ = no_grad();
        using var ids = tensor(Ids);
        using var mask = tensor(Mask);
        using var a = model.Forward(ids, mask);
        using var b = tp.Forward(ids, mask);
        Assert.True(MaxDiff(a, b) < 1e-5, $"logits differ by {MaxDiff(a, b)}");

        var pairs = new[] { (new[] { 3, 14, 15 }, new[] { 9, 26, 5 }), (new[] { 8 }, new[] { 41, 2 }) };
        var sa = CompletionScorer.Score(model, pairs, 2);
        var sb = CompletionScorer.Score(tp, pairs, 2);
        for (int i = 0; i < pairs.Length; i++)
            for (int j = 0; j < sa[i].Length; j++) Assert.True(Math.Abs(sa[i][j] - sb[i][j]) < 1e-5);

        var prompts = new[] { new[] { 5, 17, 3 }, new[] { 44 } };
        var ga = TokenGenerator.Generate(model, prompts, new GenerationOptions(MaxNewTokens: 6));
        var gb = TokenGenerator.Generate(tp, prompts, new GenerationOptions(MaxNewTokens: 6));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(ga[i].Tokens, gb[i].Tokens);
    }

    [Fact]
    public void DegreeTwoGradientsMatchDegreeOne()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied: false), seed: 42);
        using var tp = new TensorParallelTransformer(model, new[] { "cpu", "cpu" });
        using var ids = tensor(Ids);
        using var mask = tensor(Mask);
        void Backward(ICausalLanguageModel m)
        {
            var logp = TokenLogProbs.OfTargets(m.Forward(ids, mask), ids);
            (-(logp * mask[.., 1..].to(ScalarType.Float32)).sum()).backward();
        }
        Backward(model);
        Backward(tp);
        var gathered = tp.Gather(p => p.grad);
        var names = model.named_parameters().Select(x => x.name).ToHashSet();
        Assert.Equal(names.OrderBy(x => x), gathered.Keys.OrderBy(x => x));
        foreach (var (name, p) in model.named_parameters())
        {
            float diff = MaxDiff(p.grad!, gathered[name]);
            Assert.True(diff < 1e-5, $"{name}: gradient differs by {diff}");
        }
    }

    [Fact]
    public void CopyIntoRestoresTheOriginalWeights()
    {
        var config = ModelTestKit.Tiny();
        using var model = Checkpoint.CreateRandom(config, seed: 43);
        using var tp = new TensorParallelTransformer(model, new[] { "cpu", "cpu" });
        using var back = new Transformer(config);
        tp.CopyInto(back);
        var original = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        foreach (var (name, p) in back.named_parameters())
            Assert.Equal(original[name].data<float>().ToArray(), p.data<float>().ToArray());
    }

    [Fact]
    public void IndivisibleKvHeadsAreRejected()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 1);
        var e = Assert.Throws<ArgumentException>(() => new TensorParallelTransformer(model, new[] { "cpu", "cpu", "cpu" }));
        Assert.Contains("num_key_value_heads 2", e.Message);
    }
}
