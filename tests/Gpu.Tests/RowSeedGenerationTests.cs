using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;

namespace IwSft.Gpu.Tests;

/// <summary>Per-row seeds: batched sampling that does not depend on batch neighbours (the evaluate stage's cache needs it).</summary>
public class RowSeedGenerationTests
{
    static readonly int[][] Prompts = { new[] { 5, 17, 3 }, new[] { 44 }, new[] { 9, 9, 20, 31, 2, 8 } };

    [Fact]
    public void EachRowEqualsItsPromptSampledAloneWithItsSeed()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 33);
        long[] seeds = { 101, 202, 303 };
        var batched = TokenGenerator.Generate(model, Prompts, new GenerationOptions(MaxNewTokens: 10, Temperature: 1.0, TopP: 0.9, RowSeeds: seeds));
        for (int i = 0; i < Prompts.Length; i++)
        {
            var alone = TokenGenerator.Generate(model, [Prompts[i]], new GenerationOptions(MaxNewTokens: 10, Temperature: 1.0, TopP: 0.9, Seed: seeds[i]));
            Assert.Equal(alone[0].Tokens, batched[i].Tokens);
        }
        // Reordering the batch moves the samples with their seeds.
        var reordered = TokenGenerator.Generate(model, [Prompts[2], Prompts[0]], new GenerationOptions(MaxNewTokens: 10, Temperature: 1.0, TopP: 0.9, RowSeeds: [303, 101]));
        Assert.Equal(batched[2].Tokens, reordered[0].Tokens);
        Assert.Equal(batched[0].Tokens, reordered[1].Tokens);
    }

    [Fact]
    public void RowSeedCountMustMatchThePrompts()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 33);
        var e = Assert.Throws<ArgumentException>(() => TokenGenerator.Generate(model, Prompts, new GenerationOptions(Temperature: 1.0, RowSeeds: [1, 2])));
        Assert.Contains("2 seeds for 3 prompts", e.Message);
    }
}
