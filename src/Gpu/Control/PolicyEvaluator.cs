using IwSft.Control.Environments;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Control;

/// <summary>
/// Runs a learned policy's mean action in many environment copies in lock-step (one batched forward
/// pass per step for all unfinished episodes). Episode i resets from seed Derive(baseSeed, i), so the
/// evaluation set is fixed by the seed family and never shared with dataset or curve seeds.
/// </summary>
public static class PolicyEvaluator
{
    /// <summary>Seed families (disjoint by construction of <see cref="ControlRng.Derive"/>'s inputs).</summary>
    public const long EvaluationSeed = 9_000_001, CurveSeed = 8_000_001;

    public static double[] Returns(GaussianMlpPolicy policy, ControlEnvironmentSpec spec, int episodes, long baseSeed)
    {
        var envs = Enumerable.Range(0, episodes).Select(_ => spec.Create()).ToArray();
        for (int i = 0; i < episodes; i++) envs[i].Reset(ControlRng.Derive(baseSeed, i));
        int s = envs[0].ObservationSize, a = envs[0].ActionSize, max = envs[0].MaxSteps;
        if (policy.ObservationSize != s || policy.ActionSize != a)
            throw new ArgumentException($"policy ({policy.ObservationSize} → {policy.ActionSize}) does not fit environment '{spec.Name}' ({s} → {a})");
        var returns = new double[episodes];
        var active = Enumerable.Range(0, episodes).ToList();
        var obs = new float[episodes * s];
        policy.eval();
        using var _ = no_grad();
        for (int t = 0; t < max && active.Count > 0; t++)
        {
            for (int k = 0; k < active.Count; k++) envs[active[k]].Observe(obs.AsSpan(k * s, s));
            float[] actions;
            using (var input = OwnedTensor.From(obs.AsSpan(0, active.Count * s).ToArray(), active.Count, s))
            using (var mean = policy.forward(input))
                actions = mean.data<float>().ToArray();
            var next = new List<int>(active.Count);
            for (int k = 0; k < active.Count; k++)
            {
                int i = active[k];
                var outcome = envs[i].Step(actions.AsSpan(k * a, a));
                returns[i] += outcome.Reward;
                if (!outcome.Terminated) next.Add(i);
            }
            active = next;
        }
        return returns;
    }

    /// <summary>Mean normalised score over <paramref name="episodes"/> evaluation episodes.</summary>
    public static double MeanNormalisedScore(GaussianMlpPolicy policy, ControlEnvironmentSpec spec, int episodes, long baseSeed)
    {
        var reference = ScoreReference.For(spec);
        return Returns(policy, spec, episodes, baseSeed).Average(reference.Normalise);
    }
}
