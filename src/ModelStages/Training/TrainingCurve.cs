using IwSft.Gpu.Training;

namespace IwSft.Stages.Training;

/// <summary>Training-curve PNGs: loss with the learning rate on a second axis; the weight statistics.</summary>
public static class TrainingCurve
{
    public const string LossFile = "training_curve.png";
    public const string WeightsFile = "importance_weights.png";

    public static void Save(IReadOnlyList<StepMetrics> history, string directory, string title)
    {
        if (history.Count == 0) throw new ArgumentException("no steps to plot");
        double[] steps = history.Select(h => (double)h.Step).ToArray();

        var loss = new ScottPlot.Plot();
        loss.Add.Scatter(steps, history.Select(h => h.Loss).ToArray()).LegendText = "loss";
        var lr = loss.Add.Scatter(steps, history.Select(h => h.LearningRate).ToArray());
        lr.LegendText = "learning rate (right axis)";
        lr.Axes.YAxis = loss.Axes.Right;
        loss.Axes.Right.Label.Text = "learning rate";
        loss.Title(title);
        loss.XLabel("step");
        loss.YLabel("loss");
        loss.ShowLegend();
        loss.SavePng(Path.Combine(directory, LossFile), 900, 500);

        var weights = new ScottPlot.Plot();
        weights.Add.Scatter(steps, history.Select(h => h.WeightMean).ToArray()).LegendText = "w mean";
        weights.Add.Scatter(steps, history.Select(h => h.WeightMin).ToArray()).LegendText = "w min";
        weights.Add.Scatter(steps, history.Select(h => h.WeightMax).ToArray()).LegendText = "w max";
        weights.Title($"{title}: importance weights");
        weights.XLabel("step");
        weights.YLabel("weight");
        weights.ShowLegend();
        weights.SavePng(Path.Combine(directory, WeightsFile), 900, 500);
    }
}
