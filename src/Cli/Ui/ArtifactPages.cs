using System.Text;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Store;
using Markdig;
using static IwSft.Cli.Ui.Html;

namespace IwSft.Cli.Ui;

/// <summary>A request the view refuses: 400 (malformed) or 404 (nothing there); the message is shown escaped.</summary>
sealed class UiRequestException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// An artifact by content address: a table's first rows (paginated, with column types), or a directory's files with
/// its report.md rendered (raw HTML disabled) and its images inline. The address must be a valid store hash
/// (<see cref="Hashing.IsHash"/>); files inside a directory are served only by <see cref="ResolveFile"/>.
/// </summary>
static class ArtifactPages
{
    public const int PageRows = 50;

    // Raw HTML in a report is shown as text: a report is data, not markup the view trusts.
    static readonly MarkdownPipeline Markdown = new MarkdownPipelineBuilder().UseAdvancedExtensions().DisableHtml().Build();

    public static ArtifactRef Find(UiSite site, string hash)
    {
        if (!Hashing.IsHash(hash)) throw new UiRequestException(400, "an artifact address is 64 lowercase hex characters");
        return site.Store.FindArtifact(hash) ?? throw new UiRequestException(404, $"no artifact {hash} in the store");
    }

    public static async Task<string> RenderAsync(UiSite site, string hash, int page, CancellationToken ct)
    {
        var a = Find(site, hash);
        using var shared = site.Store.LockShared(ct); // gc waits while the page reads
        var health = site.Store.Verify(a);
        var sb = new StringBuilder($"<p>{E(a.Kind.ToString().ToLowerInvariant())} <code>{E(a.Hash)}</code>, {Bytes(a.Bytes)}");
        if (health != ArtifactHealth.Ok) sb.Append($" <span class=\"dropped\">{E(health.ToString().ToLowerInvariant())}</span>");
        sb.Append("</p>");
        if (health == ArtifactHealth.Missing) return Page($"Artifact {Short(hash)}", sb.ToString());
        if (a.Kind == ArtifactKind.Table)
        {
            await TableAsync(site, a, Math.Max(0, page), sb, ct);
            return Page($"Artifact {Short(hash)}", sb.ToString(), [(Url("a", hash), Short(hash))]);
        }
        Directory(site, a, sb);
        // Relative links and images of report.md resolve inside the artifact (/a/HASH/plot.png).
        return Page($"Artifact {Short(hash)}", sb.ToString(), [(Url("a", hash), Short(hash))], baseHref: Url("a", hash) + "/");
    }

    static async Task TableAsync(UiSite site, ArtifactRef a, int page, StringBuilder sb, CancellationToken ct)
    {
        var reader = site.Store.OpenTable(a, Short(a.Hash));
        var fields = reader.Schema.FieldsList;
        sb.Append("<h2>Schema</h2>").Append(Table(["column", "type", "nullable"],
            fields.Select(f => new[] { E(f.Name), $"<code>{E(TypeName(f.DataType))}</code>", f.IsNullable ? "yes" : "no" }), "schema"));
        long first = (long)page * PageRows, seen = 0;
        var rows = new List<string[]>();
        await foreach (var b in reader.ReadBatchesAsync(ct))
        {
            if (seen + b.Length <= first) { seen += b.Length; continue; }
            for (int i = (int)Math.Max(0, first - seen); i < b.Length && rows.Count < PageRows; i++)
                rows.Add(Enumerable.Range(0, b.ColumnCount).Select(c => E(Clip(TableOutput.Text(CellValues.Get(b.Column(c), i))))).ToArray());
            seen += b.Length;
            if (rows.Count >= PageRows) break; // stop reading: a preview never reads past its page
        }
        long total = a.Rows > 0 ? a.Rows : reader.RowCount;
        sb.Append($"<h2>Rows {N(Math.Min(first + 1, total))}–{N(first + rows.Count)} of <span class=\"rows\">{N(total)}</span></h2>");
        var nav = new List<string>();
        if (page > 0) nav.Add(Link($"{Url("a", a.Hash)}?page={page - 1}", "← previous"));
        if (first + rows.Count < total) nav.Add(Link($"{Url("a", a.Hash)}?page={page + 1}", "next →"));
        sb.Append("<p class=\"pages\">").Append(string.Join(" · ", nav)).Append("</p>");
        sb.Append(Table(fields.Select(f => f.Name), rows, "rows"));
    }

    static string TypeName(Apache.Arrow.Types.IArrowType t) => t switch
    {
        Apache.Arrow.Types.ListType l => $"list<{TypeName(l.ValueDataType)}>",
        _ => t.Name,
    };

    static string Clip(string s) => s.Length <= 400 ? s : s[..400] + "…";

    static void Directory(UiSite site, ArtifactRef a, StringBuilder sb)
    {
        var root = site.Store.ObjectPath(a);
        var files = RegularFiles(root).ToList();
        sb.Append("<h2>Files</h2>").Append(Table(["file", "size"], files.Select(f => new[]
        {
            $"<a href=\"{E(FileUrl(a.Hash, f.Rel))}\" download>{E(f.Rel)}</a>", Bytes(f.Bytes),
        })));
        if (files.Any(f => f.Rel == "report.md"))
        {
            var md = File.ReadAllText(Path.Combine(root, "report.md"));
            sb.Append("<h2>report.md</h2><div class=\"report\">").Append(Markdig.Markdown.ToHtml(md, Markdown)).Append("</div>");
        }
    }

    public static string FileUrl(string hash, string rel) => Url("a", hash) + "/" + string.Join("/", rel.Split('/').Select(Uri.EscapeDataString));

    /// <summary>Regular files under the artifact, relative with '/'; symbolic links (to files or directories) are left out.</summary>
    static IEnumerable<(string Rel, long Bytes)> RegularFiles(string root)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint };
        return new DirectoryInfo(root).EnumerateFiles("*", options)
            .Select(f => (Rel: Path.GetRelativePath(root, f.FullName).Replace('\\', '/'), f.Length))
            .OrderBy(f => f.Rel, StringComparer.Ordinal);
    }

    /// <summary>
    /// The file <paramref name="rel"/> inside directory artifact <paramref name="hash"/>, or a refusal: the path must be
    /// relative, made of plain names (no '..', '.', empty segments or backslashes), and every step from the artifact's
    /// root to the file must be a real directory or regular file, not a symbolic link (one could point outside the store).
    /// </summary>
    public static string ResolveFile(UiSite site, string hash, string rel)
    {
        var a = Find(site, hash);
        if (a.Kind != ArtifactKind.Directory) throw new UiRequestException(404, "a table artifact has no files");
        rel = Uri.UnescapeDataString(rel); // the router leaves %2F encoded: "..%2F.." is checked as "../.."
        var segments = rel.Split('/');
        if (rel.Length == 0 || Path.IsPathRooted(rel) || rel.Contains('\\') || rel.Contains('\0')
            || segments.Any(s => s.Length == 0 || s == "." || s == ".."))
            throw new UiRequestException(400, "a file path inside an artifact is relative, without '..', '.' or empty segments");
        var root = site.Store.ObjectPath(a);
        var current = root;
        foreach (var segment in segments)
        {
            current = Path.Combine(current, segment);
            var info = new FileInfo(current);
            if (!info.Exists && !System.IO.Directory.Exists(current)) throw new UiRequestException(404, "no such file in the artifact");
            if (info.LinkTarget is not null || new DirectoryInfo(current).LinkTarget is not null)
                throw new UiRequestException(404, "a symbolic link inside an artifact is not served");
        }
        var full = Path.GetFullPath(current);
        if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(full))
            throw new UiRequestException(404, "no such file in the artifact");
        return full;
    }

    /// <summary>Images are shown inline, text as plain text (never as HTML); anything else is a download.</summary>
    public static (string ContentType, bool Inline) ContentTypeOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".png" => ("image/png", true),
        ".jpg" or ".jpeg" => ("image/jpeg", true),
        ".gif" => ("image/gif", true),
        ".md" or ".txt" or ".csv" or ".json" or ".jsonl" or ".log" => ("text/plain; charset=utf-8", true),
        _ => ("application/octet-stream", false),
    };
}
