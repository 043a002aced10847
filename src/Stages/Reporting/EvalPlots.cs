using ScottPlot;

namespace IwSft.Stages.Reporting;

/// <summary>PNG figures of the report, drawn with ScottPlot.</summary>
public static class EvalPlots
{
    const int Width = 900, Height = 520;

    /// <summary>
    /// Accuracy per method, grouped by benchmark: bars at the mean over a method's checkpoints, error
    /// bars from <see cref="MethodRow.CiLow"/> to <see cref="MethodRow.CiHigh"/> (± std over seeds, or the
    /// Wilson 95% interval for a single checkpoint), and each checkpoint's own accuracy as a dot.
    /// </summary>
    public static void AccuracyByMethod(IReadOnlyList<MethodRow> rows, string path, string title = "Accuracy by method")
    {
        var plot = new Plot();
        var methods = rows.Select(r => r.Method).Distinct().ToList();
        var benchmarks = rows.Select(r => r.Benchmark).Distinct().ToList();
        double groupWidth = methods.Count + 1;
        var palette = new ScottPlot.Palettes.Category10();
        for (int m = 0; m < methods.Count; m++)
        {
            var color = palette.GetColor(m);
            var bars = new List<Bar>();
            var xs = new List<double>(); var ys = new List<double>(); var neg = new List<double>(); var pos = new List<double>();
            var dotX = new List<double>(); var dotY = new List<double>();
            for (int b = 0; b < benchmarks.Count; b++)
            {
                var row = rows.FirstOrDefault(r => r.Method == methods[m] && r.Benchmark == benchmarks[b]);
                if (row is null) continue;
                double x = b * groupWidth + m;
                bars.Add(new Bar { Position = x, Value = row.Mean, FillColor = color.WithAlpha(0.75), LineColor = color, Size = 0.8 });
                xs.Add(x); ys.Add(row.Mean); neg.Add(Math.Max(0, row.Mean - row.CiLow)); pos.Add(Math.Max(0, row.CiHigh - row.Mean));
                if (row.PerCheckpoint.Count > 1)
                    foreach (var acc in row.PerCheckpoint) { dotX.Add(x); dotY.Add(acc); }
            }
            var barPlot = plot.Add.Bars(bars);
            barPlot.LegendText = methods[m];
            var errors = plot.Add.ErrorBar(xs, ys, neg);
            errors.YErrorNegative = neg;
            errors.YErrorPositive = pos;
            errors.Color = Colors.Black;
            if (dotX.Count > 0)
            {
                var dots = plot.Add.ScatterPoints(dotX.ToArray(), dotY.ToArray());
                dots.Color = Colors.Black;
                dots.MarkerSize = 5;
            }
        }
        var ticks = benchmarks.Select((b, i) => new Tick(i * groupWidth + (methods.Count - 1) / 2.0, b)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Margins(bottom: 0);
        plot.YLabel("accuracy (pass@1)");
        plot.Title(title);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Training loss against step, one line per run.</summary>
    public static void TrainingLoss(IReadOnlyList<TrainingCurve> runs, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < runs.Count; i++)
        {
            var line = plot.Add.ScatterLine(runs[i].Step, runs[i].Loss);
            line.LegendText = runs[i].Run;
            line.Color = palette.GetColor(i);
            line.LineWidth = 2;
        }
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.Title("Training loss");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Mean importance weight per step with its min–max range shaded, one colour per run (SFT runs sit at 1).</summary>
    public static void ImportanceWeights(IReadOnlyList<TrainingCurve> runs, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < runs.Count; i++)
        {
            var r = runs[i];
            if (r.WeightMean is null) continue;
            var color = palette.GetColor(i);
            if (r.WeightMin is not null && r.WeightMax is not null)
            {
                var band = plot.Add.FillY(r.Step, r.WeightMin, r.WeightMax);
                band.FillColor = color.WithAlpha(0.15);
                band.LineColor = Colors.Transparent;
            }
            var line = plot.Add.ScatterLine(r.Step, r.WeightMean);
            line.LegendText = r.Run;
            line.Color = color;
            line.LineWidth = 2;
        }
        plot.XLabel("step");
        plot.YLabel("importance weight (mean, min–max shaded)");
        plot.Title("Importance weights");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }
}
