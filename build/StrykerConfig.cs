// Writes the Stryker.NET configuration of one mutation target, with parts of files selected by text anchors.
// Usage: dotnet run build/StrykerConfig.cs -- build/stryker/TARGET.json OUT.json
//
// Stryker's `mutate` entries select parts of a file as character spans ("File.cs{1200..3400}"), which break
// with every edit above them. A target's config may instead name the parts by the code that starts and ends them:
//   "parts": { "**/Store/ArtifactStore.cs": [ ["public ArtifactHealth Verify(", "public async Task<ArtifactRef> ImportTableAsync("] ] }
// Each part runs from the start of the line holding its first anchor to the start of the line holding its second
// (or to the end of the file when that is null). Anchors must occur exactly once in the file, so a renamed or
// duplicated anchor stops the run instead of silently mutating something else. Run by build/mutation-test.sh.
using System.Text.Json;
using System.Text.Json.Nodes;

if (args.Length != 2) { Console.Error.WriteLine("usage: dotnet run build/StrykerConfig.cs -- TARGET.json OUT.json"); return 2; }
var configPath = Path.GetFullPath(args[0]);
var root = JsonNode.Parse(File.ReadAllText(configPath))!;
var config = root["stryker-config"]!.AsObject();
var repo = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(configPath)!, "..", ".."));
if (config["parts"] is JsonObject parts)
{
    var mutate = config["mutate"] as JsonArray ?? [];
    config["mutate"] = mutate;
    foreach (var (glob, list) in parts)
    {
        // The glob names one source file: "**/Store/ArtifactStore.cs" → the file under src/ ending in Store/ArtifactStore.cs.
        var suffix = "/" + glob.TrimStart('*', '/');
        var matches = Directory.EnumerateFiles(Path.Combine(repo, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => f.Replace('\\', '/').EndsWith(suffix, StringComparison.Ordinal)).ToList();
        if (matches.Count != 1) { Console.Error.WriteLine($"error: '{glob}' names {matches.Count} files under src/, not one"); return 1; }
        var text = File.ReadAllText(matches[0]); // as Roslyn reads it: no BOM; spans count UTF-16 code units
        foreach (var part in list!.AsArray())
        {
            var anchors = part!.AsArray();
            int start = LineStart(text, (string)anchors[0]!, glob);
            int end = anchors.Count > 1 && anchors[1] is { } to ? LineStart(text, (string)to!, glob) : text.Length;
            if (start < 0 || end < 0) return 1;
            if (end <= start) { Console.Error.WriteLine($"error: in '{glob}', '{anchors[1]}' comes before '{anchors[0]}'"); return 1; }
            mutate.Add((JsonNode)JsonValue.Create($"{glob}{{{start}..{end}}}"));
        }
    }
    config.Remove("parts");
}
using (var stream = File.Create(args[1]))
using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true })) root.WriteTo(writer);
return 0;

static int LineStart(string text, string anchor, string glob)
{
    int at = text.IndexOf(anchor, StringComparison.Ordinal);
    if (at < 0 || text.IndexOf(anchor, at + 1, StringComparison.Ordinal) >= 0)
    {
        Console.Error.WriteLine($"error: '{anchor}' occurs {(at < 0 ? "nowhere" : "more than once")} in '{glob}'");
        return -1;
    }
    return text.LastIndexOf('\n', Math.Max(0, at - 1)) + 1;
}
