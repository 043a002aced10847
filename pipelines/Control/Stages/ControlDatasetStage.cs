using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Runtime;

namespace IwSft.Pipelines.Control;

public sealed class ControlDatasetConfig
{
    public string Environment { get; set; } = PointMassNavigation.EnvironmentName;
    public int Episodes { get; set; } = 300;
    public double RandomActionProbabilityStart { get; set; } = 1.0;
    public double RandomActionProbabilityEnd { get; set; } = 0.2;
    public double NoiseStdStart { get; set; } = 1.0;
    public double NoiseStdEnd { get; set; } = 0.3;
    public int HoldSteps { get; set; } = 10;
    public long Seed { get; set; } = 1;

    public ReplayDatasetSettings ToSettings() => new()
    {
        Episodes = Episodes, Seed = Seed, HoldSteps = HoldSteps,
        RandomActionProbabilityStart = RandomActionProbabilityStart, RandomActionProbabilityEnd = RandomActionProbabilityEnd,
        NoiseStdStart = NoiseStdStart, NoiseStdEnd = NoiseStdEnd,
    };
}

/// <summary>
/// Generates a medium-replay-style offline dataset (see <see cref="ControlDatasetGenerator"/>) and writes it
/// as the control_episodes table. Metrics: the random and expert reference returns and the dataset's
/// return range, raw and normalised.
/// </summary>
public sealed class ControlDatasetStage(string name, ControlDatasetConfig? config = null) : Stage<ControlDatasetConfig>(name, config)
{
    public const string EpisodesOutput = "episodes";
    public override string Kind => "control.dataset";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(EpisodesOutput, ControlEpisodeTable.SchemaName)];

    public override async Task RunAsync(IStageContext context)
    {
        var spec = ControlEnvironments.Get(Config.Environment);
        var episodes = ControlDatasetGenerator.Generate(spec, Config.ToSettings());
        await using (var writer = context.WriteTable(EpisodesOutput))
            foreach (var batch in ControlEpisodeTable.ToBatches(spec.Name, episodes, context.Execution.BatchRows))
                await writer.WriteAsync(batch, context.CancellationToken);

        var reference = ScoreReference.For(spec);
        var returns = episodes.Select(e => e.Episode.Return).ToArray();
        context.SetMetric("episodes", episodes.Count);
        context.SetMetric("steps", episodes.Sum(e => e.Episode.Length));
        context.SetMetric("random_return", reference.RandomReturn);
        context.SetMetric("expert_return", reference.ExpertReturn);
        context.SetMetric("return_min", returns.Min());
        context.SetMetric("return_mean", returns.Average());
        context.SetMetric("return_max", returns.Max());
        context.SetMetric("normalised_min", reference.Normalise(returns.Min()));
        context.SetMetric("normalised_mean", reference.Normalise(returns.Average()));
        context.SetMetric("normalised_max", reference.Normalise(returns.Max()));
        context.Log($"{spec.Name}: {episodes.Count} episodes, normalised returns {reference.Normalise(returns.Min()):F1} … {reference.Normalise(returns.Max()):F1} (mean {reference.Normalise(returns.Average()):F1})");
    }
}
