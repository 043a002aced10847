using System.CommandLine;
using System.Globalization;
using IwSft.Pipelines;
using IwSft.Runtime;
using IwSft.Stages.Reporting;
using Spectre.Console;

namespace IwSft.Cli;

/// <summary><c>iwsft report &lt;pipeline&gt;</c>: the latest materialised evaluation summaries as terminal tables.</summary>
public static class ReportCommands
{
    public static Command Report(PipelineRegistry pipelines)
    {
        var pipeline = new Argument<string>("pipeline") { Description = "Pipeline name (see `iwsft list`)." };
        var stage = new Option<string?>("--stage") { Description = "The stage whose summary to show (default: every summary table of the pipeline)." };
        var store = new Option<string?>("--store") { Description = "Artifact store directory (default: .iwsft in the current directory)." };
        var quick = new Option<bool>("--quick") { Description = "The pipeline's small variant." };
        var c = new Command("report", "Print the evaluation summary (accuracy, 95% CI, pass@k per checkpoint and benchmark) of a pipeline's latest run.")
            { pipeline, stage, store, quick };
        c.SetAction(async (pr, ct) =>
        {
            try
            {
                string storeRoot = pr.GetValue(store) ?? ArtifactStore.DefaultRoot;
                var p = pipelines.Build(pr.GetValue(pipeline)!, new PipelineBuildOptions { Quick = pr.GetValue(quick), StoreRoot = storeRoot });
                return await PrintAsync(new ArtifactStore(storeRoot), p, pr.GetValue(stage), AnsiConsole.Console, ct);
            }
            catch (Exception e) when (e is ArgumentException or KeyNotFoundException or InvalidOperationException or IOException or SchemaMismatchException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return c;
    }

    /// <summary>
    /// Prints every summary table of <paramref name="pipeline"/> (or of the stage named): an output with
    /// schema eval_summary gets the evaluation tables (per checkpoint and by method); any other table
    /// output named "summary" (a pipeline's own report, e.g. the demo's) is printed column by column.
    /// A directory output "report" of the same stage is shown as the path of its report.md.
    /// </summary>
    public static async Task<int> PrintAsync(ArtifactStore store, Pipeline pipeline, string? stageName, IAnsiConsole console, CancellationToken ct = default)
    {
        var stages = stageName is null ? pipeline.Stages.ToList() : [pipeline.Get(stageName)];
        var summaries = stages.SelectMany(s => s.Outputs.Where(IsSummary).Select(o => (Stage: s, Output: o))).ToList();
        if (summaries.Count == 0)
            throw new InvalidOperationException(stageName is null
                ? $"pipeline '{pipeline.Name}' has no summary output (an eval_summary table or a table named 'summary'); stages: {string.Join(", ", pipeline.Stages.Select(s => $"{s.Name} ({s.Kind})"))}"
                : $"stage '{stageName}' ({stages[0].Kind}) has no summary output; outputs: {string.Join(", ", stages[0].Outputs.Select(o => o.Name))}");
        foreach (var (s, output) in summaries)
        {
            var reader = store.OpenTable(pipeline, $"{s.Name}.{output.Name}");
            string title = $"{pipeline.Name} / {s.Name}.{output.Name}";
            if (output.Schema == "eval_summary")
            {
                var rows = await EvalSummaryReader.ReadAsync(reader, ct);
                console.Write(SummaryTable(rows, title));
                console.Write(MethodTable(EvalSummarizer.ByMethod(rows)));
            }
            else console.Write(await GenericTableAsync(reader, title, ct));
            if (s.Outputs.Any(o => o.Name == EvalReportStage.ReportOutput && o.Kind == ArtifactKind.Directory))
                console.MarkupLine($"report: [link]{Markup.Escape(Path.Combine(store.GetDirectory(pipeline, $"{s.Name}.{EvalReportStage.ReportOutput}"), "report.md"))}[/]");
        }
        return 0;
    }

    static bool IsSummary(PortSpec o) => o.Kind == ArtifactKind.Table && (o.Schema == "eval_summary" || o.Name == "summary");

    /// <summary>Any table, every column; numbers with up to 4 decimals.</summary>
    public static async Task<Table> GenericTableAsync(ITableReader reader, string title, CancellationToken ct)
    {
        var t = new Table { Title = new TableTitle(Markup.Escape(title)) };
        foreach (var f in reader.Schema.FieldsList) t.AddColumn(Markup.Escape(f.Name));
        await foreach (var b in reader.ReadBatchesAsync(ct))
            for (int r = 0; r < b.Length; r++)
                t.AddRow(Enumerable.Range(0, b.ColumnCount).Select(c => Markup.Escape(Cell(b.Column(c), r))).ToArray());
        return t;
    }

    static string Cell(Apache.Arrow.IArrowArray a, int i) => a.IsNull(i) ? "–" : a switch
    {
        Apache.Arrow.StringArray x => x.GetString(i),
        Apache.Arrow.DoubleArray x => x.GetValue(i)!.Value.ToString("0.####", CultureInfo.InvariantCulture),
        Apache.Arrow.FloatArray x => x.GetValue(i)!.Value.ToString("0.####", CultureInfo.InvariantCulture),
        Apache.Arrow.Int32Array x => x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
        Apache.Arrow.Int64Array x => x.GetValue(i)!.Value.ToString(CultureInfo.InvariantCulture),
        Apache.Arrow.BooleanArray x => x.GetValue(i)!.Value ? "true" : "false",
        _ => a.Data.DataType.Name,
    };

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
