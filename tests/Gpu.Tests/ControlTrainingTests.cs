using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Gpu.Models;

namespace IwSft.Gpu.Tests;

public class ControlTrainingTests
{
    [Fact]
    public void SelectionsAreExactOnOneToHundred()
    {
        // Returns 1 … 100. NumPy-linear percentiles: P90 = 90.1, P95 = 95.05, P98 = 98.02.
        var returns = Enumerable.Range(1, 100).Select(x => (double)x).ToArray();
        var recipe = new ControlRecipe();
        Assert.Equal(100, ControlMethods.Selection(ControlMethod.Bc, returns, recipe).Count);
        // Top 10%: returns 91 … 100 (indices 90 … 99).
        Assert.Equal(Enumerable.Range(90, 10), ControlMethods.Selection(ControlMethod.BcTop, returns, recipe));
        Assert.Equal(Enumerable.Range(90, 10), ControlMethods.Selection(ControlMethod.Sft, returns, recipe));
        // SFT(Q): {91…100} ++ {96…100} ++ {99, 100}: 10 + 5 + 2 = 17 entries; 100 appears three times.
        var q = ControlMethods.Selection(ControlMethod.SftQ, returns, recipe);
        Assert.Equal(Enumerable.Range(90, 10).Concat(Enumerable.Range(95, 5)).Concat([98, 99]), q);
        Assert.Equal(q, ControlMethods.Selection(ControlMethod.IwSftQ, returns, recipe));
    }

    [Fact]
    public void FineTuneScheduleWarmsUpThenDecaysToZero()
    {
        var s = ControlTrainingSettings.FineTune;
        Assert.Equal(0.0, s.LearningRateAt(0));
        Assert.Equal(4e-5 * 150 / 300, s.LearningRateAt(150), 15);
        Assert.Equal(4e-5, s.LearningRateAt(300), 15);
        Assert.Equal(2e-5, s.LearningRateAt(300 + 850), 15); // half-way through the cosine
        Assert.Equal(1e-3, ControlTrainingSettings.BehaviourCloning.LearningRateAt(9_999));
    }

    static List<Episode> ExpertEpisodes(ControlEnvironmentSpec spec, int n) =>
        Enumerable.Range(0, n).Select(i => Rollouts.Run(spec.Create(), spec.CreateExpert(), ControlRng.Derive(77, i))).ToList();

    [Fact]
    public void IwWeightsStartUniformBecauseQAndThetaStartAtPiRef()
    {
        var spec = ControlEnvironments.PointMass;
        var data = ExpertEpisodes(spec, 4);
        using var reference = new GaussianMlpPolicy(6, 2, [16], seed: 1);
        using var policy = reference.Clone();
        var settings = new ControlTrainingSettings { Steps = 5, LearningRate = 1e-2, BatchSize = 8 };
        var log = ControlTrainer.Train(policy, data, settings, 3, new ImportanceWeighting(), reference);
        // Step 1: q = 0.9·π_ref + 0.1·θ₀ with θ₀ = π_ref, so log q = log π_ref (to rounding) and all 8 episodes weigh 1/8 (ESS 8).
        Assert.Equal(1.0 / 8, log[0].WeightMax, 6);
        Assert.Equal(8.0, log[0].WeightEss, 4);
        Assert.Equal(0.0, log[0].MeanLogRatio, 5);
        // Later, q (EMA of θ) has moved away from π_ref and the weights are no longer uniform.
        Assert.True(log[^1].WeightEss < 8.0 - 1e-6);
    }

    [Fact]
    public void BehaviourCloningOnExpertDataLearnsTheTask()
    {
        var spec = ControlEnvironments.PointMass;
        var data = ExpertEpisodes(spec, 30);
        var recipe = new ControlRecipe
        {
            HiddenSizes = [32, 32],
            BehaviourCloning = ControlTrainingSettings.BehaviourCloning with { Steps = 300, BatchSize = 8 },
        };
        using var untrained = new GaussianMlpPolicy(6, 2, [32, 32], seed: 0);
        double before = PolicyEvaluator.MeanNormalisedScore(untrained, spec, 20, PolicyEvaluator.EvaluationSeed);
        var run = ControlMethods.Train(ControlMethod.Bc, spec, data, null, recipe, seed: 0);
        double after = PolicyEvaluator.MeanNormalisedScore(run.Policy, spec, 20, PolicyEvaluator.EvaluationSeed);
        Assert.True(run.Log[^1].Loss < run.Log[0].Loss - 0.5, $"loss {run.Log[0].Loss:F3} → {run.Log[^1].Loss:F3}");
        Assert.True(after > before + 30, $"normalised score {before:F1} → {after:F1}");
    }

    [Fact]
    public void EvaluatorIsDeterministicAndMatchesSequentialRollouts()
    {
        var spec = ControlEnvironments.Pendulum;
        using var policy = new GaussianMlpPolicy(3, 1, [8], seed: 2);
        var batched = PolicyEvaluator.Returns(policy, spec, 5, 123);
        Assert.Equal(batched, PolicyEvaluator.Returns(policy, spec, 5, 123));
        // Same episodes one at a time through the scripted-rollout path with a mean-action wrapper.
        var sequential = Enumerable.Range(0, 5).Select(i => Rollouts.Run(spec.Create(), new MeanAction(policy), ControlRng.Derive(123, i)).Return).ToArray();
        for (int i = 0; i < 5; i++) Assert.Equal(sequential[i], batched[i], 3);
        // A pendulum policy (3 → 1) cannot drive the point mass (6 → 2): a clear error, not a shape crash.
        var e = Assert.Throws<ArgumentException>(() => PolicyEvaluator.Returns(policy, ControlEnvironments.PointMass, 1, 1));
        Assert.Contains("does not fit environment 'pointmass'", e.Message);
    }

    sealed class MeanAction(GaussianMlpPolicy policy) : IControlPolicy
    {
        public void Act(ReadOnlySpan<float> o, Span<float> a, ref ControlRng rng)
        {
            using var _ = TorchSharp.torch.no_grad();
            using var x = TorchSharp.torch.tensor(o.ToArray()).reshape(1, o.Length);
            using var m = policy.forward(x);
            m.data<float>().CopyTo(a);
        }
    }
}
