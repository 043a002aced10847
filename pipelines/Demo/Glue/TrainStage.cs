using System.Globalization;
using System.Text;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using IwSft.Runtime;

namespace IwSft.Pipelines.Demo.Glue;

/// <summary>
/// Stage kind <c>demo_train</c> (demo glue over the train area's <see cref="Trainer"/>): trains the
/// checkpoint on <c>init</c> with the configured objective on a <c>sequences</c> table and writes the
/// final model (HF layout) and a per-step metrics CSV.
/// </summary>
public sealed class TrainStage(string name, TrainerConfig? config = null) : Stage<TrainerConfig>(name, config)
{
    public const string SequencesInput = "sequences";
    public const string InitInput = "init";
    public const string ModelOutput = "model";
    public const string MetricsOutput = "metrics";
    public const string MetricsFile = "metrics.csv";
    public override string Kind => "demo_train";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table(SequencesInput, "sequences"), PortSpec.Dir(InitInput)];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir(ModelOutput), PortSpec.Dir(MetricsOutput)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var data = await SequenceTable.ReadAsync(ctx.ReadTable(SequencesInput), ctx.CancellationToken);
        if (data.Count == 0) throw new InvalidDataException($"stage '{Name}': the sequences input is empty; nothing to train on");
        using var model = Checkpoint.Load(ctx.InputDirectory(InitInput));
        model.train();
        var csv = new StringBuilder("step,loss,learning_rate,grad_norm,weight_mean,weight_min,weight_max,weight_ess\n");
        using (var trainer = new Trainer(model, data, Config))
        {
            trainer.Run(null, m =>
            {
                csv.Append(string.Create(CultureInfo.InvariantCulture,
                    $"{m.Step},{m.Loss:R},{m.LearningRate:R},{m.GradNorm:R},{m.WeightMean:R},{m.WeightMin:R},{m.WeightMax:R},{m.WeightEss:R}\n"));
                ctx.ReportProgress(m.Step, trainer.TotalSteps, "steps");
            }, cancellationToken: ctx.CancellationToken);
            var last = trainer.History[^1];
            ctx.SetMetric("steps", last.Step);
            ctx.SetMetric("final_loss", last.Loss);
            ctx.SetMetric("mean_loss_last_10", trainer.History.TakeLast(10).Average(h => h.Loss));
        }
        model.eval();
        Checkpoint.Save(model, ctx.OutputDirectory(ModelOutput));
        await File.WriteAllTextAsync(Path.Combine(ctx.OutputDirectory(MetricsOutput), MetricsFile), csv.ToString(), ctx.CancellationToken);
    }
}
