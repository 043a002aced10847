using System.Globalization;
using System.Text;
using System.Text.Json;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Control;

public sealed class ControlReportConfig
{
    public string Title { get; set; } = "Control reproduction: BC, BC(10%), SFT, SFT(Q), iw-SFT(Q)";
}

/// <summary>
/// Gathers the control_results tables of every (environment, method) and the training stages' curve files
/// into report/control.md (the paper-style table, the training sizes as run against the authors', per-seed rows, the
/// ordering verdict), results.csv and one
/// learning-curve PNG per environment. Inputs are added per run with <see cref="AddRun"/>.
/// </summary>
public sealed class ControlReportStage(string name, ControlReportConfig? config = null) : Stage<ControlReportConfig>(name, config)
{
    public const string ReportOutput = "report", MarkdownFile = "control.md", CsvFile = "results.csv";
    [NotInKey("port names: the artifacts bound to them are key inputs")] readonly List<string> _resultPorts = new(), _curvePorts = new();

    public override string Kind => "control.report";
    public override int Version => 3;
    public override IReadOnlyList<PortSpec> Inputs =>
        [.. _resultPorts.Select(p => PortSpec.Table(p, "control_results")), .. _curvePorts.Select(p => PortSpec.Dir(p))];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir(ReportOutput)];

    /// <summary>Adds one (environment, method): its evaluation results and its training stage's policies directory (for the curve).</summary>
    public ControlReportStage AddRun(string label, OutputRef results, OutputRef policies)
    {
        string r = "results_" + label, c = "curves_" + label;
        if (_resultPorts.Contains(r)) throw new ArgumentException($"stage '{Name}': run '{label}' added twice");
        _resultPorts.Add(r); _curvePorts.Add(c);
        From(r, results);
        From(c, policies);
        return this;
    }

    public override async Task RunAsync(IStageContext context)
    {
        var rows = new List<ControlResultRow>();
        foreach (var port in _resultPorts)
        {
            var reader = context.ReadTable(port);
            TableSchema.Get("control_results").Validate(reader.Schema, Name, reader.Artifact);
            await foreach (var b in reader.ReadBatchesAsync(context.CancellationToken))
                for (int i = 0; i < b.Length; i++)
                    rows.Add(new ControlResultRow(b.GetString("environment", i)!, b.GetString("method", i)!, b.GetInt32("seed", i)!.Value,
                        b.GetInt32("episodes", i)!.Value, b.GetDouble("mean_return", i)!.Value, b.GetDouble("normalised_score", i)!.Value,
                        b.GetDouble("random_return", i)!.Value, b.GetDouble("expert_return", i)!.Value));
        }
        var points = new List<ControlCurvePoint>();
        var diagnostics = new List<ControlWeightDiagnostic>();
        var sizes = new List<ControlTrainingSize>();
        foreach (var port in _curvePorts)
        {
            var path = Path.Combine(context.InputDirectory(port), ControlTrainStage.CurveFile);
            if (!File.Exists(path)) continue;
            using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(path, context.CancellationToken));
            string env = doc.RootElement.GetProperty("environment").GetString()!, method = doc.RootElement.GetProperty("method").GetString()!;
            var logPath = Path.Combine(context.InputDirectory(port), ControlTrainStage.LogFile);
            if (File.Exists(logPath))
                sizes.Add(ControlTrainingSize.FromLog(env, method, doc.RootElement.GetProperty("fine_tune").GetBoolean(),
                    doc.RootElement.GetProperty("batching").GetString()!, await File.ReadAllTextAsync(logPath, context.CancellationToken), $"stage '{Name}', input '{port}', {ControlTrainStage.LogFile}"));
            foreach (var p in doc.RootElement.GetProperty("points").EnumerateArray())
                points.Add(new ControlCurvePoint(env, method, p.GetProperty("seed").GetInt32(), p.GetProperty("step").GetInt32(), p.GetProperty("normalised_score").GetDouble()));
            if (doc.RootElement.TryGetProperty("diagnostics", out var diag))
                foreach (var d in diag.EnumerateArray())
                    diagnostics.Add(new ControlWeightDiagnostic(env, d.GetProperty("seed").GetInt32(), d.GetProperty("step").GetInt32(), d.GetProperty("batch").GetDouble(),
                        d.GetProperty("ess_mean").GetDouble(), d.GetProperty("ess_min").GetDouble(), d.GetProperty("max_share_mean").GetDouble(),
                        d.GetProperty("max_share_max").GetDouble(), d.GetProperty("log_ratio_mean").GetDouble()));
        }

        string output = context.OutputDirectory(ReportOutput);
        var plots = ControlReport.PlotCurves(points, rows, output);
        await File.WriteAllTextAsync(Path.Combine(output, MarkdownFile), ControlReport.Markdown(rows, plots, Config.Title, diagnostics, sizes), context.CancellationToken);
        var csv = new StringBuilder("environment,method,seed,episodes,mean_return,normalised_score\n");
        foreach (var r in rows) csv.Append(CultureInfo.InvariantCulture, $"{r.Environment},{r.Method},{r.Seed},{r.Episodes},{r.MeanReturn:R},{r.NormalisedScore:R}\n");
        await File.WriteAllTextAsync(Path.Combine(output, CsvFile), csv.ToString(), context.CancellationToken);
        context.SetMetric("rows", rows.Count);
        context.Log($"control report: {rows.Count} results, {plots.Count} plot(s)");
    }
}
