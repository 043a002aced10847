namespace IwSft.Control.Environments;

/// <summary>One recorded episode: row-major observations [T, S] and actions [T, A], rewards [T].</summary>
public sealed record Episode(int ObservationSize, int ActionSize, float[] Observations, float[] Actions, float[] Rewards, bool Terminated)
{
    public int Length => Rewards.Length;
    public double Return => Rewards.Sum(r => (double)r);
    public ReadOnlySpan<float> Observation(int t) => Observations.AsSpan(t * ObservationSize, ObservationSize);
    public ReadOnlySpan<float> Action(int t) => Actions.AsSpan(t * ActionSize, ActionSize);
}

/// <summary>
/// Behaviour policy of a learner at some stage of training. Every <see cref="HoldSteps"/> steps it decides,
/// with probability <see cref="RandomActionProbability"/>, to explore: it then holds one uniform random action
/// for those steps (temporally correlated exploration, which drifts far from the expert's path rather than
/// averaging out); otherwise it plays the expert's action plus N(0, <see cref="NoiseStd"/>²) noise, clipped
/// to [−1, 1]. Sweeping both from high to low replays an agent improving over training.
/// Keeps per-episode state: use a fresh instance per episode.
/// </summary>
public sealed class NoisyExpertPolicy(IControlPolicy expert, double randomActionProbability, double noiseStd, int holdSteps = 1) : IControlPolicy
{
    public double RandomActionProbability { get; } = randomActionProbability;
    public double NoiseStd { get; } = noiseStd;
    public int HoldSteps { get; } = holdSteps >= 1 ? holdSteps : throw new ArgumentOutOfRangeException(nameof(holdSteps), "must be ≥ 1");

    float[]? _held;
    int _remaining;

    public void Act(ReadOnlySpan<float> observation, Span<float> action, ref ControlRng rng)
    {
        if (_remaining == 0)
        {
            _remaining = HoldSteps;
            _held = null;
            if (rng.NextDouble() < RandomActionProbability)
            {
                _held = new float[action.Length];
                for (int i = 0; i < action.Length; i++) _held[i] = (float)rng.Uniform(-1, 1);
            }
        }
        _remaining--;
        if (_held is not null) { _held.CopyTo(action); return; }
        expert.Act(observation, action, ref rng);
        for (int i = 0; i < action.Length; i++)
            action[i] = (float)ActionMath.Clip(action[i] + NoiseStd * rng.Gaussian());
    }
}

public static class Rollouts
{
    /// <summary>
    /// Runs one episode: the environment resets from <paramref name="seed"/> and the policy draws its
    /// noise from a generator derived from the same seed, so (policy, seed) fixes the episode exactly.
    /// </summary>
    public static Episode Run(IControlEnvironment env, IControlPolicy policy, ulong seed, bool record = true)
    {
        env.Reset(seed);
        var rng = new ControlRng(ControlRng.Derive((long)seed, 0x5EED));
        int s = env.ObservationSize, a = env.ActionSize, max = env.MaxSteps;
        var obs = new float[record ? max * s : s];
        var act = new float[record ? max * a : a];
        var rewards = new List<float>(max);
        bool terminated = false;
        for (int t = 0; t < max && !terminated; t++)
        {
            var o = obs.AsSpan(record ? t * s : 0, s);
            var u = act.AsSpan(record ? t * a : 0, a);
            env.Observe(o);
            policy.Act(o, u, ref rng);
            var outcome = env.Step(u);
            rewards.Add((float)outcome.Reward);
            terminated = outcome.Terminated;
        }
        int len = rewards.Count;
        return new Episode(s, a, record ? obs[..(len * s)] : [], record ? act[..(len * a)] : [], rewards.ToArray(), terminated);
    }

    /// <summary>Mean undiscounted return of a policy over episodes with seeds Derive(baseSeed, i).</summary>
    public static double MeanReturn(ControlEnvironmentSpec spec, IControlPolicy policy, int episodes, long baseSeed)
    {
        var env = spec.Create();
        double total = 0;
        for (int i = 0; i < episodes; i++) total += Run(env, policy, ControlRng.Derive(baseSeed, i), record: false).Return;
        return total / episodes;
    }
}

/// <summary>
/// D4RL-style normalisation: score = 100 · (R − R_random) / (R_expert − R_random), where both reference
/// returns are means over the same <see cref="ReferenceEpisodes"/> episodes of the uniform random policy
/// and of the environment's expert, computed here (deterministically) rather than copied from anywhere.
/// </summary>
public sealed record ScoreReference(string Environment, double RandomReturn, double ExpertReturn)
{
    public const int ReferenceEpisodes = 200;
    /// <summary>Seed family of the reference episodes; distinct from dataset and evaluation seeds.</summary>
    public const long ReferenceSeed = 7_000_001;

    public double Normalise(double episodeReturn) => 100.0 * (episodeReturn - RandomReturn) / (ExpertReturn - RandomReturn);

    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, ScoreReference> Cache = new();

    public static ScoreReference For(ControlEnvironmentSpec spec) => Cache.GetOrAdd(spec.Name, _ => new ScoreReference(
        spec.Name,
        Rollouts.MeanReturn(spec, UniformRandomPolicy.Instance, ReferenceEpisodes, ReferenceSeed),
        Rollouts.MeanReturn(spec, spec.CreateExpert(), ReferenceEpisodes, ReferenceSeed)));
}
