using System.Text;
using IwSft.Runtime;
using static IwSft.Cli.Ui.Html;

namespace IwSft.Cli.Ui;

/// <summary>A record's lineage: what <c>iwsft why</c> prints, from the same runner call and the same wording, as a table.</summary>
static class LineagePage
{
    public static async Task<string> RenderAsync(UiSite site, string pipeline, string? recordId, CancellationToken ct)
    {
        var p = site.Build(pipeline);
        var sb = new StringBuilder();
        sb.Append($"<form class=\"inline\" method=\"get\" action=\"{E(Url("p", pipeline, "why"))}\"><label>record id <input name=\"id\" value=\"{E(recordId)}\" size=\"40\"></label> <button>why</button></form>");
        if (!string.IsNullOrEmpty(recordId))
        {
            var w = await new PipelineRunner(site.Store).WhyAsync(p, recordId, ct);
            foreach (var s in w.StagesNotMaterialised) sb.Append($"<p>{E(s)}: no decisions materialised yet (run the pipeline)</p>");
            if (!w.Found) sb.Append($"<p class=\"why-missing dropped\">{E(EngineCommands.WhyNotFound(w))}</p>");
            else
            {
                sb.Append(Table(["stage", "verdict", "reason — detail (matching n-gram or rule)"], w.Decisions.Select(d => new[]
                {
                    Link(Url("p", pipeline, "s", d.Stage), d.Stage),
                    $"<span class=\"{(d.Kept ? "kept" : "dropped")}\">{E(EngineCommands.WhyVerdict(w, d).Trim())}</span>",
                    E(EngineCommands.WhyReason(d)),
                }), "why"));
                sb.Append($"<p class=\"why-conclusion\">{E(EngineCommands.WhyConclusion(w))}</p>");
            }
        }
        return Page($"Why: {pipeline}", sb.ToString(), [(Url("p", pipeline), pipeline), (Url("p", pipeline, "why"), "why")]);
    }
}
