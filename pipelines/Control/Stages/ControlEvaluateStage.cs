using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Control;

public sealed class ControlEvaluateConfig
{
    public string Environment { get; set; } = PointMassNavigation.EnvironmentName;
    public string Method { get; set; } = "bc";
    public int Seeds { get; set; } = 3;
    /// <summary>Evaluation episodes per policy, from the evaluation seed family.</summary>
    public int Episodes { get; set; } = 100;
    public long EvaluationSeed { get; set; } = PolicyEvaluator.EvaluationSeed;
}

/// <summary>
/// Rolls out each seed's policy (mean action) for <see cref="ControlEvaluateConfig.Episodes"/> episodes on
/// evaluation seeds never used for data or learning curves, and writes one control_results row per seed.
/// </summary>
public sealed class ControlEvaluateStage(string name, ControlEvaluateConfig? config = null) : Stage<ControlEvaluateConfig>(name, config)
{
    public const string PoliciesInput = "policies", ResultsOutput = "results";
    public override string Kind => "control.evaluate";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Dir(PoliciesInput)];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(ResultsOutput, "control_results")];

    public override async Task RunAsync(IStageContext context)
    {
        var spec = ControlEnvironments.Get(Config.Environment);
        var method = ControlRecipe.ParseKey(Config.Method);
        if (Config.Episodes < 1) throw new ArgumentException($"stage '{Name}': episodes must be ≥ 1");
        var reference = ScoreReference.For(spec);
        var builder = new BatchBuilder(TableSchema.Get("control_results"));
        string dir = context.InputDirectory(PoliciesInput);
        var scores = new List<double>();
        for (int seed = 0; seed < Config.Seeds; seed++)
        {
            var path = Path.Combine(dir, ControlTrainStage.PolicyFile(seed));
            if (!File.Exists(path)) throw new FileNotFoundException($"stage '{Name}': policy for seed {seed} missing: {path}");
            using var policy = GaussianMlpPolicy.LoadFrom(path);
            var returns = PolicyEvaluator.Returns(policy, spec, Config.Episodes, Config.EvaluationSeed);
            double score = returns.Average(reference.Normalise);
            scores.Add(score);
            builder.Set("environment", spec.Name).Set("method", ControlRecipe.Key(method)).Set("seed", seed)
                .Set("episodes", Config.Episodes).Set("mean_return", returns.Average()).Set("normalised_score", score)
                .Set("random_return", reference.RandomReturn).Set("expert_return", reference.ExpertReturn);
            builder.EndRow();
        }
        await using (var writer = context.WriteTable(ResultsOutput))
            await writer.WriteAsync(builder.Build(), context.CancellationToken);
        context.SetMetric("normalised_score_mean", scores.Average());
        context.Log($"{spec.Name} {ControlRecipe.Label(method)}: normalised score {scores.Average():F1} over {Config.Seeds} seeds");
    }
}
