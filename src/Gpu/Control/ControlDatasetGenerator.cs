using IwSft.Control.Environments;

namespace IwSft.Gpu.Control;

/// <summary>
/// How a medium-replay-style dataset is generated: the replay of a learner improving over training.
/// Episode i of N is played by a fresh <see cref="NoisyExpertPolicy"/> with random-action probability and
/// Gaussian noise interpolated linearly from the start to the end values (progress i / (N − 1)), so
/// early episodes are near-random and late ones near-expert.
/// </summary>
public sealed record ReplayDatasetSettings
{
    public int Episodes { get; init; } = 300;
    public double RandomActionProbabilityStart { get; init; } = 1.0;
    public double RandomActionProbabilityEnd { get; init; } = 0.2;
    public double NoiseStdStart { get; init; } = 1.0;
    public double NoiseStdEnd { get; init; } = 0.3;
    /// <summary>Steps an exploratory random action is held (see <see cref="NoisyExpertPolicy"/>).</summary>
    public int HoldSteps { get; init; } = 10;
    public long Seed { get; init; } = 1;
}

/// <summary>A dataset episode with its place in the replay.</summary>
public sealed record ReplayEpisode(int Index, double RandomActionProbability, double NoiseStd, Episode Episode);

public static class ControlDatasetGenerator
{
    public static IReadOnlyList<ReplayEpisode> Generate(ControlEnvironmentSpec spec, ReplayDatasetSettings settings)
    {
        if (settings.Episodes < 2) throw new ArgumentOutOfRangeException(nameof(settings), "need at least 2 episodes");
        var env = spec.Create();
        var expert = spec.CreateExpert();
        var result = new List<ReplayEpisode>(settings.Episodes);
        for (int i = 0; i < settings.Episodes; i++)
        {
            double progress = (double)i / (settings.Episodes - 1);
            double eps = settings.RandomActionProbabilityStart + progress * (settings.RandomActionProbabilityEnd - settings.RandomActionProbabilityStart);
            double std = settings.NoiseStdStart + progress * (settings.NoiseStdEnd - settings.NoiseStdStart);
            var policy = new NoisyExpertPolicy(expert, eps, std, settings.HoldSteps);
            result.Add(new ReplayEpisode(i, eps, std, Rollouts.Run(env, policy, ControlRng.Derive(settings.Seed, i))));
        }
        return result;
    }
}
