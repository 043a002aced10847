using ScottPlot;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>The demo report's PNG plots (ScottPlot).</summary>
public static class ReportPlots
{
    /// <summary>Greedy and sampled accuracy per method: bars at the seed mean with ± std error bars.</summary>
    public static void Accuracy(IReadOnlyList<CheckpointScore> scores, string path)
    {
        var plot = new Plot();
        var methods = ReportMarkdown.MethodOrder.Where(m => scores.Any(s => s.Method == m))
            .Concat(scores.Select(s => s.Method).Distinct().Where(m => !ReportMarkdown.MethodOrder.Contains(m))).ToList();
        var bars = new List<Bar>();
        var series = new (string Name, Func<CheckpointScore, double> Value, Color Color)[]
        {
            ("greedy", s => s.GreedyAccuracy, Colors.SteelBlue), ("sampled pass@1", s => s.SampledAccuracy, Colors.Orange),
        };
        for (int m = 0; m < methods.Count; m++)
            for (int k = 0; k < series.Length; k++)
            {
                var values = scores.Where(s => s.Method == methods[m]).Select(series[k].Value).ToList();
                var (mean, std) = IwSft.Stages.Evaluate.Metrics.MeanStd(values);
                bars.Add(new Bar { Position = m * 3 + k, Value = mean, Error = std, FillColor = series[k].Color });
            }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(methods.Select((_, m) => m * 3 + 0.5).ToArray(), methods.ToArray());
        for (int k = 0; k < series.Length; k++) plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[k].Name, FillColor = series[k].Color });
        plot.ShowLegend();
        plot.Axes.SetLimitsY(0, 1.05);
        plot.Title("Held-out accuracy (mean ± std over seeds)");
        plot.YLabel("accuracy");
        plot.SavePng(path, 800, 500);
    }

}
