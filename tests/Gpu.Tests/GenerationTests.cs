using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

public class GenerationTests
{
    static readonly int[][] Prompts = { new[] { 5, 17, 3 }, new[] { 44 }, new[] { 9, 9, 20, 31, 2, 8 } };

    /// <summary>Greedy decoding by full recomputation of the unpadded sequence at every step (no cache).</summary>
    static int[] NaiveGreedy(Transformer model, int[] prompt, int steps)
    {
        using var _ = no_grad();
        var seq = prompt.ToList();
        for (int s = 0; s < steps; s++)
        {
            using var logits = model.Forward(tensor(seq.Select(x => (long)x).ToArray()).unsqueeze(0));
            seq.Add((int)logits[0, -1].argmax().item<long>());
        }
        return seq.Skip(prompt.Length).ToArray();
    }

    [Fact]
    public void BatchedGreedyWithCacheEqualsNaiveRecomputation()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 31);
        var results = TokenGenerator.Generate(model, Prompts, new GenerationOptions(MaxNewTokens: 8));
        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(NaiveGreedy(model, Prompts[i], 8), results[i].Tokens);
            Assert.Equal(FinishReason.Length, results[i].FinishReason);
        }
    }

    [Fact]
    public void StopTokenEndsOnlyThatSequence()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 31);
        var free = NaiveGreedy(model, Prompts[0], 8);
        int stop = free[2];
        int firstStop = Array.IndexOf(free, stop);
        var results = TokenGenerator.Generate(model, Prompts, new GenerationOptions(MaxNewTokens: 8, StopTokens: new[] { stop }));
        Assert.Equal(free.Take(firstStop + 1), results[0].Tokens);
        Assert.Equal(FinishReason.Stop, results[0].FinishReason);
        foreach (var r in results.Skip(1))
        {
            // Other rows either never produce the stop token or end right at it.
            Assert.True(r.FinishReason == FinishReason.Length ? !r.Tokens.Contains(stop) && r.Tokens.Length == 8 : r.Tokens[^1] == stop);
        }
    }

    [Fact]
    public void MinNewTokensHoldsTheStopTokensBackForThatManySteps()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 31);
        var free = NaiveGreedy(model, Prompts[0], 8);
        int stop = free[0];                       // greedy would stop at once
        var immediate = TokenGenerator.Generate(model, [Prompts[0]], new GenerationOptions(MaxNewTokens: 8, StopTokens: [stop]))[0];
        Assert.Equal([stop], immediate.Tokens);
        var held = TokenGenerator.Generate(model, [Prompts[0]], new GenerationOptions(MaxNewTokens: 8, StopTokens: [stop], MinNewTokens: 3))[0];
        // The first three tokens are the most likely non-stop tokens, by full recomputation.
        using var _ = no_grad();
        var seq = Prompts[0].ToList();
        for (int k = 0; k < 3; k++)
        {
            using var logits = model.Forward(tensor(seq.Select(x => (long)x).ToArray()).unsqueeze(0));
            var last = logits[0, -1].data<float>().ToArray();
            last[stop] = float.NegativeInfinity;
            int best = Array.IndexOf(last, last.Max());
            Assert.Equal(best, held.Tokens[k]);
            seq.Add(best);
        }
        Assert.DoesNotContain(stop, held.Tokens.Take(3));
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndTinyTopPIsGreedy()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 32);
        var sample = new GenerationOptions(MaxNewTokens: 12, Temperature: 1.0, TopP: 0.95, Seed: 123);
        var a = TokenGenerator.Generate(model, Prompts, sample);
        var b = TokenGenerator.Generate(model, Prompts, sample);
        for (int i = 0; i < Prompts.Length; i++) Assert.Equal(a[i].Tokens, b[i].Tokens);

        var nucleusOfOne = TokenGenerator.Generate(model, Prompts, sample with { TopP = 1e-9 });
        for (int i = 0; i < Prompts.Length; i++) Assert.Equal(NaiveGreedy(model, Prompts[i], 12), nucleusOfOne[i].Tokens);
    }

    [Fact]
    public void TopPDropsTokensOutsideTheNucleus()
    {
        // probabilities 0.5, 0.3, 0.15, 0.05 → top-p 0.7 keeps the first two only.
        using var logits = tensor(new float[] { MathF.Log(0.15f), MathF.Log(0.5f), MathF.Log(0.05f), MathF.Log(0.3f) }).unsqueeze(0).expand(2000, -1).contiguous();
        using var rng = new Generator(7, CPU);
        using var picks = TokenGenerator.Choose(logits, new GenerationOptions(Temperature: 1.0, TopP: 0.7), rng);
        var counts = picks.bincount(null, 4).data<long>().ToArray();
        Assert.Equal(0, counts[0]);
        Assert.Equal(0, counts[2]);
        Assert.Equal(2000, counts[1] + counts[3]);
        Assert.InRange(counts[1] / 2000.0, 0.5 / 0.8 - 0.05, 0.5 / 0.8 + 0.05);
    }
}
