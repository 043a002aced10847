using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IwSft.Runtime;
using static IwSft.Cli.Ui.Html;

namespace IwSft.Cli.Ui;

/// <summary>
/// One stage: kind, code identity, configuration, its cache key and the parts it is hashed from, the staleness text
/// <c>iwsft status</c> prints, inputs and outputs (hashes, rows, sizes), timings, metrics, decisions by reason and run history.
/// </summary>
static class StagePage
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    static string Json(JsonNode? node) => $"<pre>{E(node?.ToJsonString(Indented) ?? "null")}</pre>";

    public static string Render(UiSite site, string pipeline, string stage)
    {
        var v = site.View(pipeline);
        var s = v[stage];
        var lk = s.Lock;
        var cache = lk is null ? null : site.Store.TryGetCacheEntry(lk.Key);
        var sb = new StringBuilder();

        sb.Append(Table(["", ""], new[]
        {
            new[] { "kind", E($"{s.Stage.Kind} v{s.Stage.Version}") },
            ["state", $"<span class=\"state {StageView.CssClass(s.State)}\">{E(StageView.Label(s.State))}</span>"],
            ["status", $"<span class=\"status\">{E(EngineCommands.StatusText(s.Status))}</span>"],
            ["code identity", $"<code>{E(lk?.Code ?? "(not run yet)")}</code>"],
            ["key now", $"<code>{E(s.Status.Key ?? "(cannot be computed until upstream stages are up to date)")}</code>"],
            ["key materialised", $"<code>{E(lk?.Key ?? "(never run)")}</code>"],
        }));

        sb.Append("<h2>Configuration</h2>").Append(Json(s.Stage.ConfigJson()));

        if (lk is not null)
        {
            sb.Append("<h2>Key parts (sha256 of these, canonical JSON)</h2>");
            sb.Append(Table(["part", "value"], new[]
            {
                new[] { "stage", E(s.Stage.Name) }, ["kind", E(lk.Kind)], ["version", E(lk.Version.ToString(CultureInfo.InvariantCulture))],
                ["code", $"<code>{E(lk.Code)}</code>"], ["behaviour", Json(lk.Behaviour)], ["config", Json(lk.Config)],
                ["inputs", string.Join("<br>", lk.Inputs.Select(i => $"{E(i.Key)} ← {E(i.Value.Source)} {ArtifactLink(i.Value.Hash)}"))],
                ["externals", string.Join("<br>", lk.Externals.Select(x => $"<code>{E(x.Key)}</code> <code title=\"{E(x.Value)}\">{E(Short(x.Value))}</code>"))],
            }));

            sb.Append("<h2>Inputs</h2>");
            sb.Append(Table(["input", "source", "artifact", "rows", "size"], lk.Inputs.Select(i =>
            {
                var a = site.Store.FindArtifact(i.Value.Hash);
                return new[] { E(i.Key), E(i.Value.Source), ArtifactLink(i.Value.Hash), a is { Kind: ArtifactKind.Table } ? N(a.Rows) : "", a is null ? "missing" : Bytes(a.Bytes) };
            })));
            sb.Append("<h2>Outputs</h2>");
            sb.Append(Table(["output", "kind", "artifact", "rows", "size"], lk.Outputs.Select(o => new[]
            {
                E(o.Key), E(o.Value.Kind.ToString().ToLowerInvariant()), ArtifactLink(o.Value.Hash),
                o.Value.Kind == ArtifactKind.Table ? $"<span class=\"rows\">{N(o.Value.Rows)}</span>" : "", Bytes(o.Value.Bytes),
            })));
        }

        sb.Append("<h2>Timing and metrics</h2>");
        var timing = new List<string[]>();
        if (cache is not null) timing.Add(["computed (cache entry)", $"{Seconds(cache.DurationMs)} at {E(cache.CreatedUtc.ToString("u"))}"]);
        if (s.LastRun is { } lr)
            timing.Add(["latest run", $"{E(lr["status"]?.ToString())} ({E(lr["reason"]?.ToString())}) {Seconds(lr["duration_ms"]?.GetValue<double>() ?? 0)}, {E(lr["started_utc"]?.ToString())} → {E(lr["finished_utc"]?.ToString())}"]);
        foreach (var (k, m) in cache?.Metrics ?? []) timing.Add([$"metric {E(k)}", m.ToString("G6", CultureInfo.InvariantCulture)]);
        sb.Append(timing.Count == 0 ? "<p>never run</p>" : Table(["", ""], timing));

        if (s.Stage.WritesDecisions)
        {
            sb.Append("<h2>Decisions</h2>");
            var d = cache?.Decisions;
            if (d is null) sb.Append("<p>no decisions materialised yet</p>");
            else
            {
                sb.Append($"<p>kept <span class=\"kept\">{N(d.Kept)}</span>, dropped <span class=\"dropped\">{N(d.Dropped)}</span>");
                if (lk?.Outputs.GetValueOrDefault(Stage.DecisionsOutput) is { } dt) sb.Append($" — decisions table {ArtifactLink(dt.Hash)}");
                sb.Append("</p>").Append(Table(["reason", "records"], d.ByReason.Select(r => new[] { E(r.Key), $"<span class=\"num\">{N(r.Value)}</span>" })));
            }
        }

        sb.Append("<h2>Run history</h2>");
        var history = v.Runs.Where(r => r.Stage(stage) is not null).Select(r =>
        {
            var st = r.Stage(stage)!;
            var rows = st["outputs"]?.AsObject().Where(o => o.Value?["kind"]?.ToString() == "table")
                .Select(o => $"{o.Key}={N(o.Value!["rows"]?.GetValue<long>() ?? 0)}") ?? [];
            return new[]
            {
                Link(Url("p", pipeline, "runs", r.RunId), r.RunId), E(st["status"]?.ToString()), E(st["reason"]?.ToString()),
                E(string.Join(" ", rows)), Seconds(st["duration_ms"]?.GetValue<double>() ?? 0), E(st["error"]?.ToString()),
            };
        }).ToList();
        sb.Append(history.Count == 0 ? "<p>no runs</p>" : Table(["run", "status", "reason", "rows", "time", "error"], history));
        return Page($"Stage {stage}", sb.ToString(), [(Url("p", pipeline), pipeline), (Url("p", pipeline, "s", stage), stage)]);
    }
}
