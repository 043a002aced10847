using System.Text.RegularExpressions;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Reporting;

public sealed class EvalReportConfig
{
    public string Title { get; set; } = "Evaluation report";
    /// <summary>The k of the summary's pass_at_k column (null where an item has fewer samples).</summary>
    public int PassAtK { get; set; } = 1;
    /// <summary>Checkpoint label → method. Labels not listed use their own name without a "_sN"/"-seedN" suffix.</summary>
    public Dictionary<string, string> Methods { get; set; } = new();
    /// <summary>Lines printed under the title, e.g. what a smoke run's figures do not mean. Left out of the key JSON while null.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Notes { get; set; }
}

/// <summary>
/// The eval_report stage kind: from evaluate results (and optionally the training metrics of the
/// runs) writes the eval_summary table and a report directory with report.md and PNG figures
/// (accuracy by method with error bars; training loss and importance weights).
/// </summary>
public sealed partial class EvalReportStage(string name, EvalReportConfig? config = null) : Stage<EvalReportConfig>(name, config)
{
    public const string ResultsInput = "results";
    public const string MetricsPortPrefix = "metrics_";
    public const string SummaryOutput = "summary";
    public const string ReportOutput = "report";
    public const string AccuracyFigure = "accuracy_by_method.png";
    public const string LossFigure = "training_loss.png";
    public const string WeightsFigure = "importance_weights.png";

    [NotInKey("port names: the tables bound to them are key inputs")] readonly List<string> _metricsPorts = new();

    public override string Kind => "eval-report";
    public override int Version => 1;

    // Training metrics are read by column name (step, loss, lr, grad_norm, w_*), any numeric type.
    public override IReadOnlyList<PortSpec> Inputs =>
        [PortSpec.Table(ResultsInput, "eval_results"), .. _metricsPorts.Select(p => new PortSpec(p, ArtifactKind.Table))];

    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(SummaryOutput, "eval_summary"), PortSpec.Dir(ReportOutput)];

    /// <summary>Adds a training run's metrics table (a train stage's metrics output) under <paramref name="run"/>.</summary>
    public EvalReportStage AddTrainingMetrics(string run, OutputRef metrics)
    {
        if (!RunRegex().IsMatch(run)) throw new ArgumentException($"stage '{Name}': run name '{run}' must match {RunRegex()}");
        string port = MetricsPortPrefix + run;
        if (_metricsPorts.Contains(port)) throw new ArgumentException($"stage '{Name}': training run '{run}' added twice");
        _metricsPorts.Add(port);
        From(port, metrics);
        return this;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]*$")] private static partial Regex RunRegex();

    public override async Task RunAsync(IStageContext ctx)
    {
        var ct = ctx.CancellationToken;
        if (Config.PassAtK < 1) throw new ArgumentException($"stage '{Name}' (eval_report): pass_at_k must be >= 1, got {Config.PassAtK}");
        var rows = new List<ResultRow>();
        await foreach (var b in ctx.ReadTable(ResultsInput).ReadBatchesAsync(ct))
            for (int r = 0; r < b.Length; r++)
                rows.Add(new ResultRow(b.GetString("checkpoint", r)!, b.GetString("checkpoint_hash", r)!, b.GetString("benchmark", r)!,
                    b.GetString("item_id", r)!, b.GetInt32("sample", r)!.Value, b.GetBool("correct", r)!.Value, b.GetInt32("tokens", r)!.Value));
        if (rows.Count == 0) throw new InvalidDataException($"stage '{Name}' (eval_report): the results table is empty");

        var summary = EvalSummarizer.Summarize(rows, Config.PassAtK, Config.Methods);
        var methods = EvalSummarizer.ByMethod(summary);
        await WriteSummaryAsync(ctx, summary, ct);

        var curves = new List<TrainingCurve>();
        foreach (var port in _metricsPorts)
            curves.Add(await TrainingCurveReader.ReadAsync(port[MetricsPortPrefix.Length..], ctx.ReadTable(port), Name, ct));

        string dir = ctx.OutputDirectory(ReportOutput);
        var figures = new List<(string, string)>();
        EvalPlots.AccuracyByMethod(methods, Path.Combine(dir, AccuracyFigure), Config.Title);
        figures.Add((AccuracyFigure, "Accuracy (pass@1) by method and benchmark; error bars: ± std over seeds, or the 95% Wilson interval for a single checkpoint; dots: individual checkpoints."));
        if (curves.Count > 0)
        {
            EvalPlots.TrainingLoss(curves, Path.Combine(dir, LossFigure));
            figures.Add((LossFigure, "Training loss per step."));
            if (curves.Any(c => c.WeightMean is not null))
            {
                EvalPlots.ImportanceWeights(curves, Path.Combine(dir, WeightsFigure));
                figures.Add((WeightsFigure, "Mean importance weight per step, min–max range shaded."));
            }
        }
        await File.WriteAllTextAsync(Path.Combine(dir, "report.md"), MarkdownReport.Render(Config.Title, summary, methods, curves, figures, Config.Notes), ct);
        foreach (var m in methods) ctx.SetMetric($"accuracy/{m.Method}/{m.Benchmark}", m.Mean);
    }

    static async Task WriteSummaryAsync(IStageContext ctx, List<SummaryRow> summary, CancellationToken ct)
    {
        await using var writer = ctx.WriteTable(SummaryOutput);
        var b = new BatchBuilder(TableSchema.Get("eval_summary"));
        foreach (var s in summary)
            b.Set("checkpoint", s.Checkpoint).Set("method", s.Method).Set("seed", s.Seed).Set("checkpoint_hash", s.CheckpointHash)
             .Set("benchmark", s.Benchmark).Set("n_items", s.Items).Set("samples", s.Samples).Set("accuracy", s.Accuracy)
             .Set("ci_low", s.CiLow).Set("ci_high", s.CiHigh).Set("pass_at_k", s.PassAtK).Set("k", s.K).Set("mean_tokens", s.MeanTokens).EndRow();
        await writer.WriteAsync(b.Build(), ct);
    }
}
