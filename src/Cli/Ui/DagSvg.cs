using System.Globalization;
using System.Text;
using static IwSft.Cli.Ui.Html;

namespace IwSft.Cli.Ui;

/// <summary>
/// The stage graph as server-rendered SVG: a column per stage depth (the longest path from a source), stages in
/// dependency order within a column, an edge per input binding; each node is filled by its state and links to its stage page.
/// </summary>
static class DagSvg
{
    const int NodeW = 180, NodeH = 46, ColGap = 60, RowGap = 22, Margin = 16;

    static readonly Dictionary<NodeState, string> Fill = new()
    {
        [NodeState.UpToDate] = "#2e8b57", [NodeState.Stale] = "#d08c1a", [NodeState.Failed] = "#c0392b", [NodeState.NeverRun] = "#8a94a6",
    };

    public static string Render(PipelineView view)
    {
        var depth = new Dictionary<string, int>();
        foreach (var s in view.Stages) // dependency order: every parent already has its depth
            depth[s.Stage.Name] = s.Stage.Bindings.Values.Select(b => depth[b.Stage.Name] + 1).DefaultIfEmpty(0).Max();
        var pos = new Dictionary<string, (int X, int Y)>();
        var rowsInColumn = new Dictionary<int, int>();
        foreach (var s in view.Stages)
        {
            int d = depth[s.Stage.Name], row = rowsInColumn.GetValueOrDefault(d);
            rowsInColumn[d] = row + 1;
            pos[s.Stage.Name] = (Margin + d * (NodeW + ColGap), Margin + row * (NodeH + RowGap));
        }
        int width = Margin * 2 + (rowsInColumn.Count == 0 ? 0 : rowsInColumn.Keys.Max() + 1) * (NodeW + ColGap) - ColGap;
        int height = Margin * 2 + Math.Max(1, rowsInColumn.Values.DefaultIfEmpty(1).Max()) * (NodeH + RowGap) - RowGap;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"stage graph of {E(view.Pipeline.Name)}\">");
        sb.Append("<g class=\"edges\" fill=\"none\" stroke=\"#9aa3b2\" stroke-width=\"1.5\">");
        foreach (var s in view.Stages)
            foreach (var parent in s.Stage.Bindings.Values.Select(b => b.Stage.Name).Distinct())
            {
                var (px, py) = pos[parent];
                var (cx, cy) = pos[s.Stage.Name];
                double x1 = px + NodeW, y1 = py + NodeH / 2.0, x2 = cx, y2 = cy + NodeH / 2.0, mid = (x1 + x2) / 2;
                sb.Append(CultureInfo.InvariantCulture, $"<path d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\"/>");
            }
        sb.Append("</g>");
        foreach (var s in view.Stages)
        {
            var (x, y) = pos[s.Stage.Name];
            string name = s.Stage.Name, label = Clip(name, 24), kind = Clip(s.Stage.Kind, 28);
            sb.Append(CultureInfo.InvariantCulture,
                $"<a href=\"{E(Url("p", view.Pipeline.Name, "s", name))}\"><g class=\"node {StageView.CssClass(s.State)}\" data-stage=\"{E(name)}\" data-state=\"{StageView.CssClass(s.State)}\">" +
                $"<title>{E(name)}: {E(StageView.Label(s.State))}</title>" +
                $"<rect x=\"{x}\" y=\"{y}\" width=\"{NodeW}\" height=\"{NodeH}\" rx=\"6\" fill=\"{Fill[s.State]}\"/>" +
                $"<text x=\"{x + 10}\" y=\"{y + 19}\" fill=\"#fff\" font-weight=\"600\">{E(label)}</text>" +
                $"<text x=\"{x + 10}\" y=\"{y + 36}\" fill=\"#f1f3f7\">{E(kind)}</text></g></a>");
        }
        return sb.Append("</svg>").ToString();
    }

    static string Clip(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    /// <summary>The colour key under the drawing.</summary>
    public static string Legend() =>
        string.Join(" ", Enum.GetValues<NodeState>().Select(s => $"<span class=\"state {StageView.CssClass(s)}\">{E(StageView.Label(s))}</span>"));
}
