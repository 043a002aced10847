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
md.Append(ci, $"Stryker.NET; report written {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC from each target's last run. Score = detected (killed + timeout) / ")
  .Append("(detected + survived + no coverage); compile errors and ignored mutants are not counted. Files under 80 % are marked ✗.\n\n");
var runs = new StringBuilder("| target | wall time | commit | finished (UTC) | CPU cores |\n|---|---:|---|---|---:|\n");
md.Append("| target | file | mutants | killed | timeout | survived | no coverage | compile error | ignored | score |\n");
md.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
var survivors = new StringBuilder();
var skipped = new List<string>(); // mutated files with no mutant that could be tested (compile errors only)
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
    // build/mutation-test.sh writes "SECONDS COMMIT FINISHED CORES" next to each target's Stryker output.
    var runFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(args[0]))!, target, "run.txt");
    var run = File.Exists(runFile) ? File.ReadAllText(runFile).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
    if (run.Length >= 4 && long.TryParse(run[0], ci, out long secs))
        runs.Append(ci, $"| {target} | {secs / 60} min {secs % 60} s | {run[1]} | {run[2]} | {run[3]} |\n");
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
            survivors.Append(ci, $"- {target}: `{Short(file)}:{line}` {status}, {m["mutatorName"]}: `{Clip(code)}` → `{Clip((string?)m["replacement"] ?? "")}`\n");
        }
        int C(string s) => counts.GetValueOrDefault(s);
        long detected = C("Killed") + C("Timeout"), valid = detected + C("Survived") + C("NoCoverage");
        tDetected += detected; tValid += valid;
        if (valid == 0 && counts.Keys.All(k => k == "Ignored")) continue; // outside the target's mutate globs
        if (valid == 0) { skipped.Add($"{Short(file)} ({string.Join(", ", counts.Select(kv => $"{kv.Value} {kv.Key}"))})"); continue; }
        string mark = valid > 0 && detected * 100 < 80 * valid ? " ✗" : "";
        md.Append(ci, $"| {target} | {Short(file)} | {counts.Values.Sum()} | {C("Killed")} | {C("Timeout")} | {C("Survived")} | {C("NoCoverage")} | {C("CompileError")} | {C("Ignored")} | {Score(detected, valid)}{mark} |\n");
    }
    md.Append(ci, $"| **{target}** | all | | | | | | | | **{Score(tDetected, tValid)}** |\n");
    allDetected += tDetected; allValid += tValid;
}
md.Append(ci, $"\n**Overall: {Score(allDetected, allValid)}** ({allDetected} of {allValid} valid mutants detected)\n\n");
if (skipped.Count > 0) md.Append("Mutated files with no mutant that could be tested (compile errors only; not in the table): ").Append(string.Join("; ", skipped)).Append(".\n\n");
md.Append("## Runs\n\n").Append(runs).Append('\n');
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
