using System.CommandLine;
using System.Globalization;
using IwSft.Pipelines;
using IwSft.Runtime;
using IwSft.Stages.Reporting;
using Spectre.Console;

namespace IwSft.Cli;

/// <summary><c>iwsft report &lt;pipeline&gt;</c>: the latest materialised evaluation summary as a terminal table.</summary>
public static class ReportCommands
{
    public static Command Report()
    {
        var pipeline = new Argument<string>("pipeline") { Description = "Pipeline name (see `iwsft list`)." };
        var stage = new Option<string?>("--stage") { Description = "The eval_report stage to show (default: every eval_report stage of the pipeline)." };
        var store = new Option<string?>("--store") { Description = "Artifact store directory (default: .iwsft in the current directory)." };
        var quick = new Option<bool>("--quick") { Description = "The pipeline's small variant." };
        var c = new Command("report", "Print the evaluation summary (accuracy, 95% CI, pass@k per checkpoint and benchmark) of a pipeline's latest run.")
            { pipeline, stage, store, quick };
        c.SetAction(async (pr, ct) =>
        {
            try
            {
                var p = PipelineCatalog.Get(pr.GetValue(pipeline)!).Build(new PipelineBuildOptions { Quick = pr.GetValue(quick) });
                return await PrintAsync(new ArtifactStore(pr.GetValue(store) ?? ArtifactStore.DefaultRoot), p, pr.GetValue(stage), AnsiConsole.Console, ct);
            }
            catch (Exception e) when (e is ArgumentException or KeyNotFoundException or InvalidOperationException or IOException or SchemaMismatchException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return c;
    }

    /// <summary>Prints the summary of each eval_report stage (or the one named) of <paramref name="pipeline"/>.</summary>
    public static async Task<int> PrintAsync(ArtifactStore store, Pipeline pipeline, string? stageName, IAnsiConsole console, CancellationToken ct = default)
    {
        var stages = stageName is null
            ? pipeline.Stages.Where(s => s.Kind == "eval_report").ToList()
            : [pipeline.Get(stageName)];
        if (stages.Count == 0)
            throw new InvalidOperationException($"pipeline '{pipeline.Name}' has no eval_report stage; stages: {string.Join(", ", pipeline.Stages.Select(s => $"{s.Name} ({s.Kind})"))}");
        foreach (var s in stages)
        {
            if (s.Kind != "eval_report") throw new ArgumentException($"stage '{s.Name}' is a {s.Kind} stage, not eval_report");
            var rows = await EvalSummaryReader.ReadAsync(store.OpenTable(pipeline, $"{s.Name}.{EvalReportStage.SummaryOutput}"), ct);
            console.Write(SummaryTable(rows, $"{pipeline.Name} / {s.Name}"));
            console.Write(MethodTable(EvalSummarizer.ByMethod(rows)));
            console.MarkupLine($"report: [link]{Markup.Escape(Path.Combine(store.GetDirectory(pipeline, $"{s.Name}.{EvalReportStage.ReportOutput}"), "report.md"))}[/]");
        }
        return 0;
    }

    static string Pct(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture);

    public static Table SummaryTable(IReadOnlyList<SummaryRow> rows, string title)
    {
        int k = rows.Count > 0 ? rows[0].K : 1;
        var t = new Table { Title = new TableTitle(Markup.Escape(title)) }
            .AddColumns("checkpoint", "method", "benchmark")
            .AddColumn(new TableColumn("items").RightAligned()).AddColumn(new TableColumn("n").RightAligned())
            .AddColumn(new TableColumn("accuracy %").RightAligned()).AddColumn("95% CI %")
            .AddColumn(new TableColumn($"pass@{k} %").RightAligned()).AddColumn(new TableColumn("tokens").RightAligned());
        foreach (var r in rows)
            t.AddRow(Markup.Escape(r.Checkpoint), Markup.Escape(r.Method), Markup.Escape(r.Benchmark), r.Items.ToString(CultureInfo.InvariantCulture),
                r.Samples.ToString(CultureInfo.InvariantCulture), Pct(r.Accuracy), $"[[{Pct(r.CiLow)}, {Pct(r.CiHigh)}]]",
                r.PassAtK is { } p ? Pct(p) : "–", r.MeanTokens.ToString("0.0", CultureInfo.InvariantCulture));
        return t;
    }

    static Table MethodTable(IReadOnlyList<MethodRow> rows)
    {
        var t = new Table { Title = new TableTitle("by method (mean ± std over seeds)") }
            .AddColumns("benchmark", "method").AddColumn(new TableColumn("seeds").RightAligned())
            .AddColumn(new TableColumn("accuracy %").RightAligned()).AddColumn(new TableColumn("± std").RightAligned());
        foreach (var m in rows)
            t.AddRow(Markup.Escape(m.Benchmark), Markup.Escape(m.Method), m.Checkpoints.ToString(CultureInfo.InvariantCulture), Pct(m.Mean), m.Checkpoints > 1 ? Pct(m.Std) : "–");
        return t;
    }
}
