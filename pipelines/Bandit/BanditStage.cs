using System.Globalization;
using System.Text;
using System.Text.Json;
using IwSft.Gpu.Training;
using IwSft.Runtime;

namespace IwSft.Pipelines.Bandit;

/// <summary>Trains the bandit policy with SFT and iw-SFT for every seed and writes a report directory.</summary>
public sealed class BanditStage(string name = "bandit", BanditConfig? config = null) : Stage<BanditConfig>(name, config)
{
    public override string Kind => "bandit.experiment";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Dir("report")];

    public override Task RunAsync(IStageContext context)
    {
        var steps = BanditExperiment.DerivedSteps(Config);
        var (sftSteps, iwSteps) = BanditExperiment.MeanFieldSteps(Config);
        context.Log($"mean-field dynamics: SFT within {Config.SftTolerance} of its fixed point after {sftSteps} steps, " +
                    $"iw-SFT P(right) ≥ {Config.IwTarget} after {iwSteps}; running {steps} steps (margin {Config.StepMargin})");
        var runs = new List<BanditRun>();
        int done = 0, total = Config.Seeds.Count * 2;
        foreach (var seed in Config.Seeds)
            foreach (var loss in new[] { LossKind.Sft, LossKind.IwSftSequence })
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                var run = BanditExperiment.Train(Config, seed, loss, steps);
                runs.Add(run);
                context.Log($"{run.Loss,-6} seed {seed}: P(right) = {run.PRight:F4} after {run.Steps} steps on {run.Successes} successful pulls (D+ right {run.DataRight:F4})");
                context.ReportProgress(++done, total, "runs");
            }
        var dir = context.OutputDirectory("report");
        File.WriteAllText(Path.Combine(dir, "report.md"), Report(runs, sftSteps, iwSteps, steps));
        File.WriteAllText(Path.Combine(dir, "results.json"), JsonSerializer.Serialize(runs, new JsonSerializerOptions { WriteIndented = true }));
        context.SetMetric("sft_p_right_mean", runs.Where(r => r.Loss == "SFT").Average(r => r.PRight));
        context.SetMetric("iwsft_p_right_mean", runs.Where(r => r.Loss != "SFT").Average(r => r.PRight));
        context.SetMetric("steps", steps);
        return Task.CompletedTask;
    }

    string Report(List<BanditRun> runs, int sftSteps, int iwSteps, int steps)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Two-armed bandit: SFT vs iw-SFT");
        sb.AppendLine();
        sb.AppendLine($"π_ref uniform; left pays w.p. {Config.LeftPayoff.ToString(inv)}, right w.p. {Config.RightPayoff.ToString(inv)}; " +
                      $"{Config.Pulls} reference pulls per seed, D+ = successful pulls. Expected D+(right) = " +
                      $"{BanditExperiment.ExpectedDataRight(Config).ToString("F4", inv)}.");
        sb.AppendLine($"Full-batch gradient descent, η = {Config.LearningRate.ToString(inv)}; iw-SFT sequence weights, temperature " +
                      $"{Config.WeightTemperature.ToString(inv)}, clip [0, {Config.WeightClipMax.ToString(inv)}], q = current policy (detached).");
        sb.AppendLine($"Steps from the mean-field dynamics: SFT {sftSteps}, iw-SFT {iwSteps} → {steps} (× {Config.StepMargin.ToString(inv)}).");
        sb.AppendLine();
        sb.AppendLine("| loss | seed | steps | successes | D+(right) | P(right) | final loss |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in runs)
            sb.AppendLine(string.Create(inv, $"| {r.Loss} | {r.Seed} | {r.Steps} | {r.Successes} | {r.DataRight:F4} | {r.PRight:F4} | {r.FinalLoss:F5} |"));
        sb.AppendLine();
        sb.AppendLine("Expected: SFT → P(right) = D+(right) ≈ 2/3; iw-SFT → P(right) → 1.");
        return sb.ToString();
    }
}

/// <summary>The `bandit` pipeline: one stage, the toy reproduction from the paper.</summary>
public sealed class BanditPipeline : IPipelineDefinition
{
    public string Name => "bandit";
    public string Description => "Two-armed bandit: SFT converges to P(right)=2/3, iw-SFT to ~1 (paper's toy example)";

    public Pipeline Build(PipelineBuildOptions options)
    {
        var pipeline = new Pipeline(Name, Description);
        pipeline.Add(new BanditStage("bandit", new BanditConfig { Pulls = options.Quick ? 3_000 : 30_000 }));
        return pipeline;
    }
}
