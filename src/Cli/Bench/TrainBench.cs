using IwSft.Stages.Training;

namespace IwSft.Cli.Bench;

/// <summary>`iwsft bench train`: see <see cref="TrainBenchmark"/>.</summary>
public static class TrainBench
{
    public static Task<BenchReport> RunAsync(BenchContext ctx) => Task.Run(() =>
    {
        var figures = TrainBenchmark.Run(ctx.Quick, ctx.Log, ctx.CancellationToken);
        var report = new BenchReport();
        foreach (var m in figures.Metrics) report.Add(m.Key, m.Value);
        report.Notes.AddRange(figures.Notes);
        return report;
    }, ctx.CancellationToken);
}
