// Summarises Stryker.NET JSON reports (mutation-testing-elements schema) into one Markdown report:
// the mutation score per file and per target, and every mutant that survived or had no covering test.
// Usage: dotnet run build/MutationReport.cs -- OUT.md TARGET=REPORT.json [TARGET=REPORT.json ...]
// Run by build/mutation-test.sh; the score is Stryker's: detected (killed + timeout) / valid (detected +
// survived + no coverage), compile errors and ignored mutants excluded.
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: dotnet run build/MutationReport.cs -- OUT.md TARGET=REPORT.json ...");
    return 2;
}
var ci = CultureInfo.InvariantCulture;
var md = new StringBuilder("# Mutation testing report\n\n");
md.Append(ci, $"Stryker.NET, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. Score = detected / (detected + survived + no coverage).\n\n");
md.Append("| target | file | mutants | killed | timeout | survived | no coverage | compile error | ignored | score |\n");
md.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
var survivors = new StringBuilder();
long allDetected = 0, allValid = 0;
foreach (var arg in args[1..])
{
    var eq = arg.IndexOf('=');
    var (target, path) = eq > 0 ? (arg[..eq], arg[(eq + 1)..]) : (Path.GetFileNameWithoutExtension(arg), arg);
    if (!File.Exists(path))
    {
        md.Append(ci, $"| {target} | (no report: {path}) | | | | | | | | |\n");
        continue;
    }
    var files = JsonNode.Parse(File.ReadAllText(path))!["files"]!.AsObject();
    long tDetected = 0, tValid = 0;
    foreach (var (file, node) in files.OrderBy(kv => kv.Key, StringComparer.Ordinal))
    {
        var lines = ((string?)node!["source"] ?? "").Split('\n');
        var counts = new Dictionary<string, int>();
        foreach (var m in node["mutants"]!.AsArray())
        {
            var status = (string)m!["status"]!;
            counts[status] = counts.GetValueOrDefault(status) + 1;
            if (status is not ("Survived" or "NoCoverage")) continue;
            int line = (int)m["location"]!["start"]!["line"]!;
            var code = line >= 1 && line <= lines.Length ? lines[line - 1].Trim() : "";
            survivors.Append(ci, $"- `{Short(file)}:{line}` {status}, {m["mutatorName"]}: `{Clip(code)}` → `{Clip((string?)m["replacement"] ?? "")}`\n");
        }
        int C(string s) => counts.GetValueOrDefault(s);
        long detected = C("Killed") + C("Timeout"), valid = detected + C("Survived") + C("NoCoverage");
        tDetected += detected; tValid += valid;
        md.Append(ci, $"| {target} | {Short(file)} | {counts.Values.Sum()} | {C("Killed")} | {C("Timeout")} | {C("Survived")} | {C("NoCoverage")} | {C("CompileError")} | {C("Ignored")} | {Score(detected, valid)} |\n");
    }
    md.Append(ci, $"| **{target}** | all | | | | | | | | **{Score(tDetected, tValid)}** |\n");
    allDetected += tDetected; allValid += tValid;
}
md.Append(ci, $"\n**Overall: {Score(allDetected, allValid)}** ({allDetected} of {allValid} valid mutants detected)\n\n");
md.Append("## Surviving and uncovered mutants\n\n").Append(survivors.Length > 0 ? survivors.ToString() : "None.\n");
File.WriteAllText(args[0], md.ToString());
Console.WriteLine($"mutation score {Score(allDetected, allValid)} ({allDetected}/{allValid}); report: {args[0]}");
return 0;

static string Score(long detected, long valid) => valid == 0 ? "–" : (100.0 * detected / valid).ToString("F1", CultureInfo.InvariantCulture) + "%";
static string Short(string file)
{
    var f = file.Replace('\\', '/');
    int i = f.IndexOf("/src/", StringComparison.Ordinal);
    return i >= 0 ? f[(i + 1)..] : f;
}
static string Clip(string s) { s = s.Replace('\n', ' ').Replace('`', '\''); return s.Length > 110 ? s[..110] + "…" : s; }
