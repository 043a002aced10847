using System.CommandLine;
using IwSft.Pipelines.Eval;
using IwSft.Runtime;

namespace IwSft.Cli;

/// <summary>CI outputs of <c>iwsft run eval</c> (summary JSON, JUnit, thresholds) and <c>iwsft metrics diff</c>.</summary>
public static class EvalCiCommands
{
    /// <summary>After a successful eval run: writes the requested files, then checks the thresholds (exit 1 with one line naming what regressed).</summary>
    public static async Task<int> AfterRunAsync(ArtifactStore store, string pipelineName, string paramsFile, string? junit, string? summaryJson, string? baselineOption, CancellationToken ct)
    {
        var prm = EvalParams.Load(paramsFile);
        var summary = await EvalCi.FromStoreAsync(store, pipelineName, paramsFile, ct);
        string? baselinePath = baselineOption ?? prm.Thresholds.Baseline;
        EvalSummaryFile? baseline = null;
        if (baselinePath is not null)
        {
            if (File.Exists(baselinePath) || Directory.Exists(baselinePath)) baseline = await EvalCi.LoadAsync(baselinePath, ct);
            else if (baselineOption is not null) throw new FileNotFoundException($"baseline '{baselinePath}' not found");
            else Console.Error.WriteLine($"note: baseline '{baselinePath}' not found; max_drop not checked (first run?)");
        }
        var failures = EvalCi.CheckThresholds(summary, prm.Thresholds, baseline);
        if (summaryJson is not null) summary.Write(summaryJson);
        if (junit is not null) EvalCi.WriteJUnit(junit, EvalCi.JUnit(summary, failures));
        foreach (var c in summary.Results)
            Console.WriteLine($"{c.Checkpoint} × {c.Benchmark}: accuracy {c.Accuracy:0.0000} [{c.CiLow:0.0000}, {c.CiHigh:0.0000}] n={c.N}" + (c.PassAtK is double pk ? $" pass@{c.K} {pk:0.0000}" : ""));
        if (failures.Count == 0) return 0;
        Console.Error.WriteLine(EvalCi.RegressionLine(failures));
        return 1;
    }

    public static Command Metrics()
    {
        var a = new Argument<string>("a") { Description = "Earlier run: a summary file (--summary-json) or a store directory." };
        var b = new Argument<string>("b") { Description = "Later run: a summary file or a store directory." };
        var diff = new Command("diff", "Per checkpoint × benchmark change of accuracy (with 95% intervals) and pass@k between two runs.") { a, b };
        diff.SetAction((pr, ct) => EngineCommands.Guard(async () =>
        {
            var before = await EvalCi.LoadAsync(pr.GetValue(a)!, ct);
            var after = await EvalCi.LoadAsync(pr.GetValue(b)!, ct);
            Console.Write(EvalCi.FormatDiff(EvalCi.Diff(before, after)));
            return 0;
        }));
        return new Command("metrics", "Compare evaluation metrics of two runs.") { diff };
    }
}
