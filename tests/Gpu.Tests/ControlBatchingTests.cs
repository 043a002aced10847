using IwSft.Control.Environments;
using IwSft.Gpu.Control;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>
/// The control experiment as the authors run it (emmyqin/iw_sft_control, main.py): whole-episode batches with
/// masks, q's EMA step before the weights, strict-&gt; percentile filtering and the trajectory weight formula.
/// </summary>
public class ControlBatchingTests
{
    // Episode of `length` steps with 1-D observations t + offset and 1-D actions `value`.
    static Episode Ramp(int length, float value, float offset = 0) =>
        new(1, 1, Enumerable.Range(0, length).Select(t => t + offset).ToArray(), Enumerable.Repeat(value, length).ToArray(),
            new float[length], false);

    [Fact]
    public void EpisodeBatchesAreWholeEpisodesPaddedToTheLongestWithAMask()
    {
        Episode[] episodes = [Ramp(1, 1f, 100), Ramp(3, 3f, 300), Ramp(2, 2f, 200)];
        var sampler = new EpisodeBatchSampler(episodes, batchEpisodes: 5, seed: 42);
        for (int call = 0; call < 20; call++)
        {
            using var batch = sampler.Next();
            var idx = sampler.LastIndices;
            Assert.Equal(5, idx.Length);
            int tMax = idx.Max(i => episodes[i].Length);
            Assert.Equal(new long[] { 5, tMax, 1 }, batch.Observations.shape);
            Assert.Equal(new long[] { 5, tMax, 1 }, batch.Actions.shape);
            Assert.Equal(new long[] { 5, tMax }, batch.Mask.shape);
            var obs = batch.Observations.data<float>().ToArray();
            var act = batch.Actions.data<float>().ToArray();
            var mask = batch.Mask.data<float>().ToArray();
            var lengths = batch.Lengths.data<float>().ToArray();
            for (int b = 0; b < 5; b++)
            {
                var ep = episodes[idx[b]];
                Assert.Equal(ep.Length, lengths[b]);
                for (int t = 0; t < tMax; t++)
                {
                    bool real = t < ep.Length;
                    // Whole episode from step 0, in order; padding is masked and zero.
                    Assert.Equal(real ? 1f : 0f, mask[b * tMax + t]);
                    Assert.Equal(real ? ep.Observations[t] : 0f, obs[b * tMax + t]);
                    Assert.Equal(real ? ep.Actions[t] : 0f, act[b * tMax + t]);
                }
            }
        }
        Assert.Equal(100, sampler.DrawCounts.Sum());
        // Same seed, same batches.
        var again = new EpisodeBatchSampler(episodes, 5, 42);
        for (int call = 0; call < 20; call++) again.Next().Dispose();
        Assert.Equal(sampler.DrawCounts, again.DrawCounts);
    }

    [Fact]
    public void EpisodesAreDrawnUniformlyWithReplacementNotByLength()
    {
        // Lengths 1 and 9: transition-level sampling would pick the long one 90% of the time; BCReplay picks
        // each episode with probability 1/2. 40 × 100 = 4000 draws: 2000 expected, binomial σ = 31.6; allow 5σ.
        var sampler = new EpisodeBatchSampler([Ramp(1, 0f), Ramp(9, 0f)], batchEpisodes: 100, seed: 7);
        bool sawRepeat = false;
        for (int i = 0; i < 40; i++)
        {
            sampler.Next().Dispose();
            sawRepeat |= sampler.LastIndices.Distinct().Count() < sampler.LastIndices.Length;
        }
        Assert.True(sawRepeat); // with replacement: 100 draws from 2 episodes repeat
        Assert.InRange(sampler.DrawCounts[0], 2000 - 158, 2000 + 158);
        // An episode listed twice (SFT(Q)'s concatenation) is twice as likely: 3 list entries, 2 of them episode A.
        var a = Ramp(2, 1f);
        var listed = new EpisodeBatchSampler([a, Ramp(2, 2f), a], batchEpisodes: 300, seed: 9);
        for (int i = 0; i < 10; i++) listed.Next().Dispose();
        // entries 0 and 2 together: 2000 of 3000 expected, σ = 25.8; allow 5σ.
        Assert.InRange(listed.DrawCounts[0] + listed.DrawCounts[2], 2000 - 129, 2000 + 129);
    }

    [Fact]
    public void TrainerUsesTheAuthorsBatchSizesAsEpisodesPerBatch()
    {
        var data = Enumerable.Range(0, 6).Select(i => Ramp(3 + i, 0.1f * i)).ToList();
        using var policy = new GaussianMlpPolicy(1, 1, [4], seed: 3);
        var settings = new ControlTrainingSettings { Steps = 3, LearningRate = 1e-3, BatchSize = 7 };
        Assert.Equal(ControlBatching.Episodes, settings.Batching);
        var log = ControlTrainer.Train(policy, data, settings, 5);
        Assert.All(log, s => Assert.Equal(7, s.Trajectories));
        Assert.All(log, s => Assert.InRange(s.Steps, 7 * 3, 7 * 8));
        // The old batching: 64 transitions as 64 / 16 = 4 chunks.
        var chunks = ControlTrainer.Train(policy, data, settings with { Batching = ControlBatching.Chunks, BatchSize = 64 }, 5);
        Assert.All(chunks, s => Assert.Equal(4, s.Trajectories));
        Assert.Equal(128, ControlTrainingSettings.BehaviourCloning.BatchSize);
        Assert.Equal(256, ControlTrainingSettings.FineTune.BatchSize);
        Assert.Equal(ControlBatching.Episodes, ControlTrainingSettings.FineTune.Batching);
    }

    [Fact]
    public void TrajectoryWeightsAndLossMatchHandComputedNumbers()
    {
        // log q(τ) and log π_ref(τ) summed over τ; len(τ) = 2, 4, 1.
        using var qSum = tensor(new float[] { -2f, -4f, 0f });
        using var refSum = tensor(new float[] { -3f, -3f, -2f });
        using var lengths = tensor(new float[] { 2f, 4f, 1f });
        // diff = 10 · (log q − log π_ref) / len = 10·1/2 = 5, 10·(−1)/4 = −2.5, 10·2/1 = 20.
        // exp: 148.4131591, 0.0820850, 4.85e8 → clamped to 1000.
        using var raw = ImportanceWeights.Trajectory(qSum, refSum, lengths, temperature: 10, maxWeight: 1000, normaliseOverBatch: false);
        var w = raw.data<float>().ToArray();
        Assert.Equal(148.4131591, w[0], 3);
        Assert.Equal(0.0820850, w[1], 6);
        Assert.Equal(1000.0, w[2], 6);
        // Normalised: Σ = 1148.4952441.
        using var norm = ImportanceWeights.Trajectory(qSum, refSum, lengths);
        var n = norm.data<float>().ToArray();
        Assert.Equal(148.4131591 / 1148.4952441, n[0], 6);
        Assert.Equal(0.0820850 / 1148.4952441, n[1], 6);
        Assert.Equal(1000.0 / 1148.4952441, n[2], 6);
        // Loss = −mean_b(w_b · log p(τ_b)/len(τ_b)) with log p(τ) = −1, −8, −3 (per step −0.5, −2, −3):
        // −(0.1292240·(−0.5) + 0.0000715·(−2) + 0.8707045·(−3)) / 3 = 0.8922895.
        using var logp = tensor(new float[] { -1f, -8f, -3f });
        using var loss = Losses.MeanWeightedTrajectoryNll(logp, lengths, norm);
        double expected = -(n[0] * -0.5 + n[1] * -2.0 + n[2] * -3.0) / 3;
        Assert.Equal(0.8922895, expected, 6);
        Assert.Equal(expected, loss.item<float>(), 5);
        // BC/SFT: w_b = 1, the mean over episodes of the per-step average: (0.5 + 2 + 3) / 3.
        using var ones3 = ones(3);
        using var bc = Losses.MeanWeightedTrajectoryNll(logp, lengths, ones3);
        Assert.Equal(5.5 / 3, bc.item<float>(), 5);
        // ESS of the normalised weights = 1/Σw², max share = max w.
        var stats = WeightStats.Of(norm);
        Assert.Equal(1.0 / n.Sum(x => (double)x * x), stats.EffectiveSampleSize, 4);
        Assert.Equal(1.2906, stats.EffectiveSampleSize, 3);
    }

    [Fact]
    public void QTakesItsEmaStepBeforeTheWeightsAreComputed()
    {
        var data = Enumerable.Range(0, 5).Select(i => Ramp(4 + i, 0.2f * i - 0.4f, 0.5f * i)).ToList();
        using var reference = new GaussianMlpPolicy(1, 1, [8], seed: 1);
        using var policy = new GaussianMlpPolicy(1, 1, [8], seed: 2);       // θ ≠ π_ref
        using var q = new GaussianMlpPolicy(1, 1, [8], seed: 3);            // q ≠ θ, so the order shows
        using var qBefore = q.Clone();
        using var theta = policy.Clone();
        var weighting = new ImportanceWeighting();
        var sampler = new EpisodeBatchSampler(data, 4, seed: 11);
        using var batch = sampler.Next();

        // Hand-made expectation: q' = 0.9·q + 0.1·θ (θ before the update), then the weights of (q', π_ref).
        using var expectedQ = qBefore.Clone();
        Losses.EmaUpdate(expectedQ.parameters(), theta.parameters(), 0.9);
        float[] WeightsOf(GaussianMlpPolicy p)
        {
            using var _ = no_grad();
            using var s = NewDisposeScope();
            var qs = (p.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
            var rs = (reference.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
            return ImportanceWeights.Trajectory(qs, rs, batch.Lengths).data<float>().ToArray();
        }
        var expected = WeightsOf(expectedQ);
        var stale = WeightsOf(qBefore);

        var optimiser = optim.Adam(policy.parameters(), lr: 1e-2);
        var (step, used) = ControlTrainer.Update(policy, optimiser, batch, weighting, q, reference, 1, 1e-2);
        for (int b = 0; b < used.Length; b++) Assert.Equal(expected[b], used[b], 6);
        Assert.True(used.Zip(stale).Max(x => Math.Abs(x.First - x.Second)) > 1e-4, "the test must tell the two orders apart");
        // q holds 0.9·q + 0.1·θ_before, not θ_after; θ moved.
        foreach (var (a, e) in q.parameters().Zip(expectedQ.parameters()))
            Assert.Equal(e.data<float>().ToArray(), a.data<float>().ToArray());
        Assert.Contains(policy.parameters().Zip(theta.parameters()), x => !x.First.data<float>().ToArray().SequenceEqual(x.Second.data<float>().ToArray()));
        Assert.Equal(4, step.Trajectories);
        Assert.Equal(1.0 / used.Sum(x => (double)x * x), step.WeightEss, 3);
        Assert.Equal(used.Max() / used.Sum(), step.MaxShare, 5);
    }

    [Fact]
    public void PercentileFilteringIsStrictAsTheAuthorsByDefault()
    {
        // Returns [0, 5, 5, 10, 7]: sorted 0, 5, 5, 7, 10. P50 at position 2 → 5. `> 5` keeps 7 and 10 (indices 3, 4);
        // `≥ 5` also keeps the two fives. P90 at position 3.6 → 7 + 0.6·3 = 8.8 → index 3 either way.
        double[] returns = [0, 5, 5, 10, 7];
        Assert.Equal(new[] { 3, 4 }, Samplers.PercentileStratifiedConcatenation(returns, [50], strict: true));
        Assert.Equal(new[] { 1, 2, 3, 4 }, Samplers.PercentileStratifiedConcatenation(returns, [50], strict: false));
        var recipe = new ControlRecipe { TopPercentile = 50, StratifyPercentiles = [50, 90] };
        Assert.True(recipe.StrictThreshold);
        Assert.Equal(new[] { 3, 4 }, ControlMethods.Selection(ControlMethod.Sft, returns, recipe));
        Assert.Equal(new[] { 3, 4, 3 }, ControlMethods.Selection(ControlMethod.SftQ, returns, recipe));
        // All returns equal: every cut-off equals the value and `>` keeps nothing.
        Assert.Empty(Samplers.PercentileStratifiedConcatenation([2.0, 2.0, 2.0], [90], strict: true));
    }
}
