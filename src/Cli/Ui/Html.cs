using System.Globalization;
using System.Net;
using System.Text;

namespace IwSft.Cli.Ui;

/// <summary>
/// HTML building blocks of the web view. Every piece of text that comes from the store or a request goes through
/// <see cref="E"/> (record ids, reasons, cell values, file names), so a record holding markup renders as text.
/// </summary>
static class Html
{
    /// <summary>HTML-escapes text for element content and double-quoted attribute values (&lt; &gt; &amp; " ').</summary>
    public static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    /// <summary>An absolute URL built from path segments, each percent-encoded (a stage or run name cannot add segments).</summary>
    public static string Url(params string[] segments) => "/" + string.Join("/", segments.Select(Uri.EscapeDataString));

    public static string Link(string href, string text) => $"<a href=\"{E(href)}\">{E(text)}</a>";

    public static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    public static string Bytes(long b) => b >= 1 << 20 ? $"{b / 1048576.0:F1} MB".Replace(',', '.') : b >= 1024 ? $"{b / 1024.0:F1} KB" : $"{b} B";

    public static string Seconds(double ms) => (ms / 1000).ToString("0.00", CultureInfo.InvariantCulture) + " s";

    public static string Short(string? hash) => hash is null ? "" : hash[..Math.Min(12, hash.Length)];

    /// <summary>A hash shown short, linking to its artifact page.</summary>
    public static string ArtifactLink(string hash) => $"<a class=\"hash\" href=\"{E(Url("a", hash))}\" title=\"{E(hash)}\">{E(Short(hash))}</a>";

    /// <summary>A table with escaped headers; cells are HTML the caller has already escaped.</summary>
    public static string Table(IEnumerable<string> headers, IEnumerable<IEnumerable<string>> rows, string? cssClass = null)
    {
        var sb = new StringBuilder($"<table{(cssClass is null ? "" : $" class=\"{cssClass}\"")}><thead><tr>");
        foreach (var h in headers) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        foreach (var r in rows)
        {
            sb.Append("<tr>");
            foreach (var c in r) sb.Append("<td>").Append(c).Append("</td>");
            sb.Append("</tr>");
        }
        return sb.Append("</tbody></table>").ToString();
    }

    /// <summary>The page frame: title, navigation crumbs, the body HTML; <paramref name="baseHref"/> resolves a report's relative links.</summary>
    public static string Page(string title, string body, IEnumerable<(string Href, string Text)>? crumbs = null, string? baseHref = null)
    {
        var nav = new StringBuilder("<nav><a href=\"/\">iwsft</a>");
        foreach (var (href, text) in crumbs ?? []) nav.Append(" / ").Append(Link(href, text));
        nav.Append("</nav>");
        return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">" +
               (baseHref is null ? "" : $"<base href=\"{E(baseHref)}\">") +
               $"<title>{E(title)} · iwsft</title><link rel=\"stylesheet\" href=\"/ui.css\"></head><body>{nav}<main><h1>{E(title)}</h1>{body}</main></body></html>";
    }

    /// <summary>The only style sheet, served from memory (nothing is fetched at run time).</summary>
    public const string Css = """
        body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #fafbfc; }
        nav { background: #1d2330; color: #cfd6e4; padding: 8px 20px; }
        nav a { color: #fff; text-decoration: none; font-weight: 600; }
        main { padding: 4px 20px 40px; }
        h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #dde2ea; }
        table { border-collapse: collapse; margin: 8px 0; background: #fff; }
        th, td { border: 1px solid #dde2ea; padding: 3px 8px; text-align: left; vertical-align: top; }
        th { background: #eef1f6; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        pre, code, .hash { font-family: ui-monospace, monospace; font-size: 12.5px; }
        pre { background: #fff; border: 1px solid #dde2ea; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
        .state { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; font-size: 12px; }
        .up-to-date { background: #2e8b57; } .stale { background: #d08c1a; } .failed { background: #c0392b; } .never-run { background: #8a94a6; }
        .in-progress { background: #2f6fd0; }
        .dropped { color: #c0392b; font-weight: 600; } .kept { color: #2e8b57; }
        svg.dag { max-width: 100%; height: auto; background: #fff; border: 1px solid #dde2ea; }
        svg.dag text { font: 12px system-ui, sans-serif; }
        .report img { max-width: 100%; }
        .report { background: #fff; border: 1px solid #dde2ea; padding: 4px 16px; }
        form.inline { margin: 8px 0; }
        """;
}
