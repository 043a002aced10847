using System.Globalization;
using System.Text;
using System.Text.Json;
using IwSft.Pipelines.Eval;
using IwSft.Runtime;
using IwSft.Stages.Reporting;
using static IwSft.Cli.Ui.Html;

namespace IwSft.Cli.Ui;

/// <summary>
/// Runs: the list (runs in progress from their in-flight records, finished ones from their manifests), one manifest,
/// and the evaluation: every eval_summary table (accuracy, 95% interval, pass@k per checkpoint × benchmark) and a
/// side-by-side diff of two runs computed by <see cref="EvalCi.Diff"/>, the code of <c>iwsft metrics diff</c>.
/// </summary>
static class RunPages
{
    public static string List(UiSite site, string pipeline)
    {
        site.Definition(pipeline);
        var sb = new StringBuilder();
        var inflight = site.Store.InflightRuns().Where(r => r.Pipeline == pipeline).ToList();
        if (inflight.Count > 0)
        {
            sb.Append("<h2>In progress</h2>").Append(Table(["run", "state", "pid", "started", "artifacts so far"], inflight.Select(r => new[]
            {
                E(r.RunId), r.ProcessAlive ? "<span class=\"state in-progress\">in progress</span>" : "process gone (killed?)",
                r.Pid.ToString(CultureInfo.InvariantCulture), E(r.StartedUtc.ToString("u")), N(r.PinnedArtifacts),
            }), "inflight"));
        }
        var runs = site.Runs(pipeline);
        sb.Append("<h2>Finished</h2>");
        sb.Append(runs.Count == 0 ? "<p>no runs</p>" : Table(["run", "started", "time", "result", "stages"], runs.Select(r => new[]
        {
            Link(Url("p", pipeline, "runs", r.RunId), r.RunId), E(r.Started), Seconds(r.DurationMs),
            r.Succeeded ? "succeeded" : "<span class=\"dropped\">failed</span>",
            E(string.Join(", ", (r.Json["stages"]?.AsObject() ?? []).GroupBy(s => s.Value?["status"]?.ToString() ?? "?").Select(g => $"{g.Count()} {g.Key}"))),
        }), "runs"));
        return Page($"Runs: {pipeline}", sb.ToString(), [(Url("p", pipeline), pipeline), (Url("p", pipeline, "runs"), "runs")]);
    }

    public static string Manifest(UiSite site, string pipeline, string runId)
    {
        // The id only selects among the listed manifests; it never becomes a path.
        var r = site.Runs(pipeline).FirstOrDefault(x => x.RunId == runId) ?? throw new UiRequestException(404, $"pipeline '{pipeline}' has no run '{runId}'");
        var sb = new StringBuilder($"<p>started {E(r.Started)}, {Seconds(r.DurationMs)}, {(r.Succeeded ? "succeeded" : "<span class=\"dropped\">failed</span>")}</p>");
        sb.Append(Table(["stage", "status", "reason", "key", "outputs", "time", "error"], (r.Json["stages"]?.AsObject() ?? []).Select(kv =>
        {
            var s = kv.Value!;
            var outs = (s["outputs"]?.AsObject() ?? []).Select(o => $"{E(o.Key)} {ArtifactLink(o.Value!["hash"]!.ToString())}" +
                (o.Value!["kind"]?.ToString() == "table" ? $" {N(o.Value!["rows"]?.GetValue<long>() ?? 0)} rows" : ""));
            return new[]
            {
                Link(Url("p", pipeline, "s", kv.Key), kv.Key), E(s["status"]?.ToString()), E(s["reason"]?.ToString()),
                $"<code title=\"{E(s["key"]?.ToString())}\">{E(Short(s["key"]?.ToString()))}</code>", string.Join("<br>", outs),
                Seconds(s["duration_ms"]?.GetValue<double>() ?? 0), E(s["error"]?.ToString()),
            };
        }), "manifest"));
        sb.Append("<h2>Manifest</h2><pre>").Append(E(r.Json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))).Append("</pre>");
        return Page($"Run {runId}", sb.ToString(), [(Url("p", pipeline), pipeline), (Url("p", pipeline, "runs"), "runs"), (Url("p", pipeline, "runs", runId), runId)]);
    }

    static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);

    public static async Task<string> EvalAsync(UiSite site, string pipeline, string? runA, string? runB, CancellationToken ct)
    {
        var p = site.Build(pipeline);
        var lk = site.Store.ReadLock(pipeline);
        var runs = site.Runs(pipeline);
        var summaries = p.Stages.SelectMany(s => s.Outputs.Where(o => o.Kind == ArtifactKind.Table && o.Schema == "eval_summary").Select(o => $"{s.Name}.{o.Name}")).ToList();
        var sb = new StringBuilder();
        if (summaries.Count == 0) sb.Append("<p>this pipeline has no evaluation summary (eval_summary) output</p>");
        using var shared = site.Store.LockShared(ct);
        foreach (var target in summaries)
        {
            var (stage, output) = (target[..target.IndexOf('.')], target[(target.IndexOf('.') + 1)..]);
            sb.Append($"<h2>{E(target)}</h2>");
            var a = lk.Stages.GetValueOrDefault(stage)?.Outputs.GetValueOrDefault(output);
            if (a is null || site.Store.Verify(a) != ArtifactHealth.Ok) { sb.Append("<p>not materialised</p>"); continue; }
            var rows = await EvalSummaryReader.ReadAsync(site.Store.OpenTable(a, target), ct);
            sb.Append(Table(["checkpoint", "method", "benchmark", "items", "n", "accuracy", "95% interval", "pass@k", "tokens"], rows.Select(r => new[]
            {
                E(r.Checkpoint), E(r.Method), E(r.Benchmark), N(r.Items), N(r.Samples), $"<span class=\"num\">{F(r.Accuracy)}</span>",
                $"[{F(r.CiLow)}, {F(r.CiHigh)}]", r.PassAtK is { } pk ? $"pass@{r.K} {F(pk)}" : "–", r.MeanTokens.ToString("0.0", CultureInfo.InvariantCulture),
            }), "eval"));

            // Diff of two runs: each run's own summary artifact, from its manifest.
            var withSummary = runs.Where(r => r.Stage(stage)?["outputs"]?[output]?["hash"] is not null).ToList();
            if (withSummary.Count == 0) continue;
            string a1 = runA ?? (withSummary.Count > 1 ? withSummary[1].RunId : withSummary[0].RunId), b1 = runB ?? withSummary[0].RunId;
            sb.Append($"<form class=\"inline\" method=\"get\">diff run {Select("a", withSummary, a1)} → {Select("b", withSummary, b1)} <button>diff</button></form>");
            var ra = withSummary.FirstOrDefault(r => r.RunId == a1);
            var rb = withSummary.FirstOrDefault(r => r.RunId == b1);
            if (ra is null || rb is null) { sb.Append("<p>choose two runs that wrote this summary</p>"); continue; }
            var before = await SummaryOfRunAsync(site, pipeline, ra, stage, output, ct);
            var after = await SummaryOfRunAsync(site, pipeline, rb, stage, output, ct);
            if (before is null || after is null) { sb.Append("<p>a run's summary artifact is no longer in the store (collected by gc?)</p>"); continue; }
            var diff = EvalCi.Diff(before, after);
            sb.Append(Table(["checkpoint", "benchmark", $"{a1}", $"{b1}", "change"], diff.Select(d => new[]
            {
                E(d.Checkpoint), E(d.Benchmark), Cell(d.Old), Cell(d.New),
                d.Change is { } c ? E((c >= 0 ? "+" : "") + F(c) + (d.Overlap ? "" : " (intervals disjoint)")) : d.Old is null ? "added" : "removed",
            }), "diff"));
            sb.Append("<p>as <code>iwsft metrics diff</code> prints it:</p><pre class=\"metrics-diff\">").Append(E(EvalCi.FormatDiff(diff))).Append("</pre>");
        }
        return Page($"Evaluation: {pipeline}", sb.ToString(), [(Url("p", pipeline), pipeline), (Url("p", pipeline, "eval"), "evaluation")]);
    }

    static string Cell(EvalCell? c) => c is null ? "–" : E($"{F(c.Accuracy)} [{F(c.CiLow)}, {F(c.CiHigh)}] n={c.N}" + (c.PassAtK is { } pk ? $" pass@{c.K} {F(pk)}" : ""));

    static string Select(string name, IEnumerable<RunManifestView> runs, string selected) =>
        $"<select name=\"{name}\">" + string.Concat(runs.Select(r => $"<option{(r.RunId == selected ? " selected" : "")}>{E(r.RunId)}</option>")) + "</select>";

    static async Task<EvalSummaryFile?> SummaryOfRunAsync(UiSite site, string pipeline, RunManifestView run, string stage, string output, CancellationToken ct)
    {
        var hash = run.Stage(stage)?["outputs"]?[output]?["hash"]?.ToString();
        if (hash is null || !IwSft.Runtime.Store.Hashing.IsHash(hash) || site.Store.FindArtifact(hash) is not { Kind: ArtifactKind.Table } a || site.Store.Verify(a) != ArtifactHealth.Ok) return null;
        return await EvalCi.FromSummaryTableAsync(site.Store.OpenTable(a, $"{stage}.{output}"), pipeline, ct);
    }
}
