using System.Text;
using static IwSft.Cli.Ui.Html;

namespace IwSft.Cli.Ui;

/// <summary>The index (every pipeline with its last run and status counts) and a pipeline's page (DAG and stage table).</summary>
static class PipelinePages
{
    public static string Index(UiSite site)
    {
        var inflight = site.Store.InflightRuns();
        var rows = new List<string[]>();
        foreach (var d in site.Definitions)
        {
            string counts, last;
            try
            {
                var v = site.View(d.Name);
                counts = string.Join(" ", Enum.GetValues<NodeState>().Select(s => (s, n: v.Stages.Count(x => x.State == s))).Where(x => x.n > 0)
                    .Select(x => $"<span class=\"state {StageView.CssClass(x.s)}\">{x.n} {E(StageView.Label(x.s))}</span>"));
                last = v.Runs.FirstOrDefault() is { } r
                    ? $"{Link(Url("p", d.Name, "runs", r.RunId), r.RunId)} {(r.Succeeded ? "succeeded" : "<span class=\"dropped\">failed</span>")}"
                    : "never";
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                counts = $"<span class=\"dropped\">cannot build: {E(e.Message)}</span>";
                last = "";
            }
            var running = inflight.Where(r => r.Pipeline == d.Name && r.ProcessAlive).ToList();
            if (running.Count > 0) last += " " + string.Join(" ", running.Select(r => $"<span class=\"state in-progress\">in progress {E(r.RunId)}</span>"));
            rows.Add([Link(Url("p", d.Name), d.Name), E(d.Description), counts, last]);
        }
        var body = $"<p>Store <code>{E(site.Store.Root)}</code> (read-only view{(site.Quick ? ", --quick pipelines" : "")}).</p>" +
                   Table(["pipeline", "description", "stages", "last run"], rows);
        return Page("Pipelines", body);
    }

    public static string Pipeline(UiSite site, string name)
    {
        var v = site.View(name);
        var sb = new StringBuilder();
        sb.Append($"<p>{E(v.Pipeline.Description)}</p>");
        sb.Append($"<p>{Link(Url("p", name, "runs"), "runs")} · {Link(Url("p", name, "eval"), "evaluation")} · {Link(Url("p", name, "why"), "lineage (why)")}</p>");
        foreach (var r in site.Store.InflightRuns().Where(r => r.Pipeline == name && r.ProcessAlive))
            sb.Append($"<p><span class=\"state in-progress\">in progress</span> run {E(r.RunId)} (pid {r.Pid}, started {E(r.StartedUtc.ToString("u"))}, {r.PinnedArtifacts} artifacts so far)</p>");
        sb.Append("<h2>Stages</h2>").Append(DagSvg.Render(v)).Append("<p>").Append(DagSvg.Legend()).Append("</p>");
        var rows = v.Stages.Select(s => new[]
        {
            Link(Url("p", name, "s", s.Stage.Name), s.Stage.Name),
            E(s.Stage.Kind),
            $"<span class=\"state {StageView.CssClass(s.State)}\">{E(StageView.Label(s.State))}</span>",
            E(EngineCommands.StatusText(s.Status)),
            E(string.Join(" ", (s.Lock?.Outputs ?? []).Where(o => o.Value.Kind == IwSft.Runtime.ArtifactKind.Table).Select(o => $"{o.Key}={N(o.Value.Rows)}"))),
            s.LastRun?["duration_ms"] is { } ms ? Seconds(ms.GetValue<double>()) : "",
        });
        sb.Append(Table(["stage", "kind", "state", "status", "rows", "last run time"], rows, "stages"));
        return Page($"Pipeline {name}", sb.ToString(), [(Url("p", name), name)]);
    }
}
