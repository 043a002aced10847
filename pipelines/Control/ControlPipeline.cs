using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Runtime;

namespace IwSft.Pipelines.Control;

/// <summary>
/// The continuous-control reproduction of the paper's D4RL table on the project's own environments:
/// per environment, a medium-replay-style dataset → BC on all data (π_ref) → BC(10%) from scratch and
/// SFT, SFT(Q), iw-SFT(Q) fine-tuned from π_ref → evaluation on 100 held-out episodes per seed → one
/// report (Markdown table + learning-curve PNGs). Full size uses DESIGN.md §2's constants (the authors': batches
/// of whole episodes, 128 for BC and 256 for the fine-tunes) and 3 seeds;
/// Quick is a tiny version of the same DAG for tests.
/// </summary>
public sealed class ControlPipeline : IPipelineDefinition
{
    public string Name => "control";
    public string Description => "Control reproduction: BC / BC(10%) / SFT / SFT(Q) / iw-SFT(Q) on point-mass navigation and pendulum swing-up";

    public Pipeline Build(PipelineBuildOptions options)
    {
        var pipeline = new Pipeline(Name, Description);
        var report = new ControlReportStage("report");
        foreach (var spec in ControlEnvironments.All)
        {
            var dataset = pipeline.Add(new ControlDatasetStage($"dataset-{spec.Name}", DatasetConfig(spec.Name, options.Quick)));
            ControlTrainStage? bc = null;
            foreach (var method in Enum.GetValues<ControlMethod>())
            {
                string key = ControlRecipe.Key(method).Replace('_', '-');
                var train = pipeline.Add(new ControlTrainStage($"train-{spec.Name}-{key}", TrainConfig(spec.Name, method, options.Quick)));
                train.From(ControlTrainStage.EpisodesInput, dataset[ControlDatasetStage.EpisodesOutput]);
                if (method == ControlMethod.Bc) bc = train;
                else if (ControlRecipe.FineTunesReference(method)) train.From(ControlTrainStage.ReferenceInput, bc![ControlTrainStage.PoliciesOutput]);
                var evaluate = pipeline.Add(new ControlEvaluateStage($"evaluate-{spec.Name}-{key}", new ControlEvaluateConfig
                {
                    Environment = spec.Name, Method = ControlRecipe.Key(method), Seeds = Seeds(options.Quick), Episodes = options.Quick ? 10 : 100,
                }));
                evaluate.From(ControlEvaluateStage.PoliciesInput, train[ControlTrainStage.PoliciesOutput]);
                report.AddRun($"{spec.Name}_{ControlRecipe.Key(method)}", evaluate[ControlEvaluateStage.ResultsOutput], train[ControlTrainStage.PoliciesOutput]);
            }
        }
        pipeline.Add(report);
        return pipeline;
    }

    static int Seeds(bool quick) => quick ? 2 : 3;

    static ControlDatasetConfig DatasetConfig(string environment, bool quick) => new()
    {
        Environment = environment,
        Episodes = quick ? 30 : 300,
    };

    static ControlTrainConfig TrainConfig(string environment, ControlMethod method, bool quick)
    {
        var config = new ControlTrainConfig
        {
            Environment = environment, Method = ControlRecipe.Key(method), Seeds = Seeds(quick),
            // Curves of the fine-tunes only (the report plots BC and BC(10%) as their final scores):
            // every 100 updates (20 points), 10 curve-seed episodes each.
            CurveEvery = ControlRecipe.FineTunesReference(method) ? 100 : 0,
        };
        if (!quick) return config;
        config.HiddenSizes = [16, 16];
        config.BcSteps = 40;
        config.FineTuneSteps = 20;
        config.FineTuneWarmupSteps = 3;
        config.BcBatchSize = 8;          // whole episodes per batch
        config.FineTuneBatchSize = 8;
        config.CurveEvery = ControlRecipe.FineTunesReference(method) ? 10 : 0;
        config.CurveEpisodes = 3;
        return config;
    }
}
