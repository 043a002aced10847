using System.Globalization;
using System.Text;

namespace IwSft.Stages.Reporting;

/// <summary>The human-readable evaluation report.</summary>
public static class MarkdownReport
{
    static string P(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture);
    static string F(double v, string format = "0.###") => double.IsNaN(v) ? "–" : v.ToString(format, CultureInfo.InvariantCulture);

    public static string Render(string title, IReadOnlyList<SummaryRow> summary, IReadOnlyList<MethodRow> methods,
        IReadOnlyList<TrainingCurve> curves, IReadOnlyList<(string File, string Caption)> figures, IReadOnlyList<string>? notes = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# {title}").AppendLine();
        foreach (var note in notes ?? []) sb.AppendLine($"> **Note:** {note}").AppendLine();
        int k = summary.Count > 0 ? summary[0].K : 1;

        sb.AppendLine("## Accuracy by method").AppendLine();
        sb.AppendLine("Mean ± sample std over the method's checkpoints (seeds); with one checkpoint, its 95% Wilson interval.").AppendLine();
        sb.AppendLine("| benchmark | method | checkpoints | accuracy % | ± std | interval % |");
        sb.AppendLine("|---|---|---:|---:|---:|---|");
        foreach (var m in methods)
            sb.AppendLine($"| {m.Benchmark} | {m.Method} | {m.Checkpoints} | {P(m.Mean)} | {(m.Checkpoints > 1 ? P(m.Std) : "–")} | [{P(m.CiLow)}, {P(m.CiHigh)}] |");
        sb.AppendLine();

        sb.AppendLine("## Per checkpoint").AppendLine();
        sb.AppendLine($"Accuracy is pass@1 (mean over items of the fraction of correct samples); 95% Wilson score interval over items; pass@{k} by the unbiased estimator.").AppendLine();
        sb.AppendLine($"| checkpoint | method | seed | benchmark | items | samples | accuracy % | 95% CI % | pass@{k} % | mean tokens | content hash |");
        sb.AppendLine("|---|---|---:|---|---:|---:|---:|---|---:|---:|---|");
        foreach (var s in summary)
            sb.AppendLine($"| {s.Checkpoint} | {s.Method} | {s.Seed?.ToString(CultureInfo.InvariantCulture) ?? "–"} | {s.Benchmark} | {s.Items} | {s.Samples} | {P(s.Accuracy)} | [{P(s.CiLow)}, {P(s.CiHigh)}] | {(s.PassAtK is { } p ? P(p) : "–")} | {F(s.MeanTokens, "0.0")} | `{s.CheckpointHash[..12]}` |");
        sb.AppendLine();

        if (curves.Count > 0)
        {
            sb.AppendLine("## Training runs").AppendLine();
            sb.AppendLine("| run | steps | first loss | final loss | mean w | min w | max w | mean ESS |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var c in curves)
            {
                static double Mean(double[]? xs) => xs is null || xs.Length == 0 ? double.NaN : xs.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
                sb.AppendLine($"| {c.Run} | {c.Step.Length} | {F(c.Loss.FirstOrDefault(double.NaN), "0.####")} | {F(c.Loss.LastOrDefault(double.NaN), "0.####")} | {F(Mean(c.WeightMean))} | " +
                              $"{F(c.WeightMin?.Min() ?? double.NaN)} | {F(c.WeightMax?.Max() ?? double.NaN)} | {F(Mean(c.WeightEss), "0.##")} |");
            }
            sb.AppendLine();
        }

        if (figures.Count > 0)
        {
            sb.AppendLine("## Figures").AppendLine();
            foreach (var (file, caption) in figures) sb.AppendLine($"![{caption}]({file})").AppendLine().AppendLine($"*{caption}*").AppendLine();
        }
        return sb.ToString();
    }
}
