using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

public class ScoringTests
{
    static readonly (int[], int[])[] Pairs =
    {
        (new[] { 3, 14, 15 }, new[] { 9, 26, 5, 35 }),
        (new[] { 8 }, new[] { 41 }),
        (new[] { 2, 7, 18, 28, 18, 28 }, new[] { 45, 9 }),
        (new[] { 1, 1 }, Array.Empty<int>()),
        (new[] { 60, 59, 58 }, new[] { 0, 1, 2, 3, 4, 5 }),
    };

    [Fact]
    public void ScoresEqualHandComputedLogSoftmaxOfFullForward()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 21);
        var scores = CompletionScorer.Score(model, Pairs, batchSize: 2);
        Assert.Equal(new[] { 4, 1, 2, 0, 6 }, scores.Select(s => s.Length));
        using var _ = no_grad();
        for (int i = 0; i < Pairs.Length; i++)
        {
            var (prompt, completion) = Pairs[i];
            var seq = prompt.Concat(completion).Select(x => (long)x).ToArray();
            using var logp = model.Forward(tensor(seq).unsqueeze(0)).log_softmax(-1);
            for (int j = 0; j < completion.Length; j++)
            {
                // Completion token j sits at position prompt.Length + j and is predicted from the previous position.
                float expected = logp[0, prompt.Length + j - 1, completion[j]].item<float>();
                Assert.True(Math.Abs(expected - scores[i][j]) < 1e-5, $"pair {i} token {j}: {expected} vs {scores[i][j]}");
            }
        }
    }

    [Fact]
    public void SameValuesAloneOrInAnyBatch()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 22);
        var batched = CompletionScorer.Score(model, Pairs, batchSize: 5);
        for (int i = 0; i < Pairs.Length; i++)
        {
            var alone = CompletionScorer.Score(model, new[] { Pairs[i] }, batchSize: 1)[0];
            Assert.Equal(alone.Length, batched[i].Length);
            for (int j = 0; j < alone.Length; j++) Assert.True(Math.Abs(alone[j] - batched[i][j]) < 1e-5, $"pair {i} token {j}");
        }
    }

    [Fact]
    public void BatchMaskSelectsExactlyCompletionTargets()
    {
        using var batch = CompletionBatch.Build(new[] { (new[] { 5, 6 }, new[] { 7, 8, 9 }), (new[] { 1, 2, 3 }, new[] { 4 }) });
        Assert.Equal(new long[] { 5, 6, 7, 8, 9, 1, 2, 3, 4, 0 }, batch.InputIds.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 }, batch.AttentionMask.data<long>().ToArray());
        // Targets are tokens 1..4: row 0 → 6 7 8 9, row 1 → 2 3 4 pad.
        Assert.Equal(new float[] { 0, 1, 1, 1, 0, 0, 1, 0 }, batch.CompletionMask.data<float>().ToArray());
    }

    [Fact]
    public void EmptyPromptIsAClearError()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 1);
        var e = Assert.Throws<ArgumentException>(() => CompletionScorer.Score(model, new[] { (new[] { 1 }, new[] { 2 }), (Array.Empty<int>(), new[] { 3 }) }, 4));
        Assert.Contains("pair 1", e.Message);
    }
}
