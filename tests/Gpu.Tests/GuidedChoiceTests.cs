using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>Guided choice (vLLM's structured_outputs.choice) in the KV-cache generator: the output is exactly one choice and its end token.</summary>
public class GuidedChoiceTests
{
    const int End = 2;
    static readonly int[][] Prompts = [[5, 17, 3], [44], [9, 9, 20, 31, 2, 8]];
    // A choice that is a prefix of another ([40] and [40, 41]) and choices that share a first token ([40, 41], [40, 50]).
    static readonly int[][] Choices = [[40], [40, 41], [40, 50], [51, 52, 53]];

    /// <summary>Greedy constrained decoding by full recomputation: at each step the most likely token among those that continue some choice (then the end token).</summary>
    static int[] NaiveGuidedGreedy(Transformer model, int[] prompt)
    {
        using var _ = no_grad();
        var targets = Choices.Select(c => (int[])[.. c, End]).ToList();
        var emitted = new List<int>();
        while (emitted.Count == 0 || emitted[^1] != End)
        {
            var allowed = targets.Where(t => t.Length > emitted.Count && t.Take(emitted.Count).SequenceEqual(emitted)).Select(t => t[emitted.Count]).Distinct().ToList();
            using var logits = model.Forward(tensor(prompt.Concat(emitted).Select(x => (long)x).ToArray()).unsqueeze(0));
            var last = logits[0, -1].data<float>().ToArray();
            emitted.Add(allowed.MaxBy(t => last[t]));
        }
        return emitted.ToArray();
    }

    [Fact]
    public void GreedyGuidedChoiceIsTheMostLikelyAllowedPathTokenByToken()
    {
        foreach (var seed in new long[] { 31, 32, 33 })
        {
            using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: seed);
            var results = TokenGenerator.Generate(model, Prompts, new GenerationOptions(MaxNewTokens: 8, StopTokens: [End], Choices: Choices));
            for (int i = 0; i < Prompts.Length; i++)
            {
                Assert.Equal(NaiveGuidedGreedy(model, Prompts[i]), results[i].Tokens);
                Assert.Equal(FinishReason.Stop, results[i].FinishReason);
            }
        }
    }

    [Fact]
    public void SampledGuidedChoiceIsAlwaysAChoiceAndDoesNotDependOnTheBatch()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 34);
        var seen = new HashSet<string>();
        for (long seed = 0; seed < 12; seed++)
        {
            var rowSeeds = Prompts.Select((_, i) => seed * 10 + i).ToList();
            var options = new GenerationOptions(MaxNewTokens: 8, Temperature: 2.0, StopTokens: [End], RowSeeds: rowSeeds, Choices: Choices);
            var batch = TokenGenerator.Generate(model, Prompts, options);
            for (int i = 0; i < Prompts.Length; i++)
            {
                var tokens = batch[i].Tokens;
                Assert.Equal(End, tokens[^1]);
                Assert.Contains(Choices, c => c.SequenceEqual(tokens[..^1]));
                seen.Add(string.Join(",", tokens));
                var alone = TokenGenerator.Generate(model, [Prompts[i]], options with { RowSeeds = [rowSeeds[i]] });
                Assert.Equal(tokens, alone[0].Tokens);
            }
        }
        // At temperature 2 over a random model the sampler reaches more than one choice (the constraint, not a fixed path).
        Assert.True(seen.Count > 1, $"only {string.Join(" | ", seen)} sampled");
    }

    [Fact]
    public void GuidedChoiceNeedsAStopTokenAndNonEmptyChoices()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 31);
        Assert.Contains("stop token", Assert.Throws<ArgumentException>(() => TokenGenerator.Generate(model, Prompts, new GenerationOptions(Choices: Choices))).Message);
        Assert.Contains("no tokens", Assert.Throws<ArgumentException>(() =>
            TokenGenerator.Generate(model, Prompts, new GenerationOptions(StopTokens: [End], Choices: [[40], []]))).Message);
        Assert.Contains("at least one", Assert.Throws<ArgumentException>(() =>
            TokenGenerator.Generate(model, Prompts, new GenerationOptions(StopTokens: [End], Choices: []))).Message);
    }
}
