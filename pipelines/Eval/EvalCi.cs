using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Xml.Linq;
using IwSft.Runtime;
using IwSft.Stages.Reporting;

namespace IwSft.Pipelines.Eval;

/// <summary>One checkpoint × benchmark cell of a summary file.</summary>
public sealed record EvalCell
{
    public string Checkpoint { get; init; } = "";
    public string CheckpointHash { get; init; } = "";
    public string Benchmark { get; init; } = "";
    /// <summary>Items evaluated.</summary>
    public int N { get; init; }
    public int Samples { get; init; }
    public double Accuracy { get; init; }
    public double CiLow { get; init; }
    public double CiHigh { get; init; }
    public double? PassAtK { get; init; }
    public int K { get; init; }
    public double MeanTokens { get; init; }
}

/// <summary>The file <c>--summary-json</c> writes and <c>iwsft metrics diff</c> reads.</summary>
public sealed record EvalSummaryFile
{
    public const int CurrentFormat = 1;
    public int Format { get; init; } = CurrentFormat;
    public string Pipeline { get; init; } = "eval";
    public string? Commit { get; init; }
    public string? Params { get; init; }
    public string? CreatedUtc { get; init; }
    /// <summary>Cache key of each stage (the run's store keys), by stage name.</summary>
    public SortedDictionary<string, string> StoreKeys { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Content address of the eval_summary table.</summary>
    public string? SummaryArtifact { get; init; }
    public List<EvalCell> Results { get; init; } = new();

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public void Write(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions) + "\n");
    }

    public static EvalSummaryFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"summary file '{path}' not found");
        try
        {
            var s = JsonSerializer.Deserialize<EvalSummaryFile>(File.ReadAllText(path), JsonOptions) ?? throw new InvalidDataException($"'{path}' is empty");
            if (s.Format != CurrentFormat) throw new InvalidDataException($"summary file '{path}': format {s.Format}, expected {CurrentFormat}");
            return s;
        }
        catch (JsonException e) { throw new InvalidDataException($"summary file '{path}': {e.Message}"); }
    }
}

/// <summary>A threshold that failed for one cell.</summary>
public sealed record ThresholdFailure(string Checkpoint, string Benchmark, string Message);

/// <summary>CI outputs of an evaluation run: summary file, thresholds, JUnit XML, metrics diff.</summary>
public static class EvalCi
{
    /// <summary>The summary of the latest materialised run of <paramref name="pipelineName"/> in <paramref name="store"/>.</summary>
    public static async Task<EvalSummaryFile> FromStoreAsync(ArtifactStore store, string pipelineName = "eval", string? paramsPath = null, CancellationToken ct = default)
    {
        var lk = store.ReadLock(pipelineName);
        var entry = lk.Stages.GetValueOrDefault("report")
            ?? throw new InvalidOperationException($"pipeline '{pipelineName}' has no materialised report in store {store.Root}; run `iwsft run {pipelineName} --params FILE` first");
        var artifact = entry.Outputs.GetValueOrDefault(EvalReportStage.SummaryOutput)
            ?? throw new InvalidOperationException($"pipeline '{pipelineName}': the report stage has no summary output in store {store.Root}");
        var rows = await EvalSummaryReader.ReadAsync(store.OpenTable(artifact, "report.summary"), ct);
        return new EvalSummaryFile
        {
            Pipeline = pipelineName,
            Commit = GitCommit(paramsPath is null ? null : Path.GetDirectoryName(Path.GetFullPath(paramsPath))),
            Params = paramsPath is null ? null : Path.GetFullPath(paramsPath),
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            StoreKeys = new(lk.Stages.ToDictionary(kv => kv.Key, kv => kv.Value.Key), StringComparer.Ordinal),
            SummaryArtifact = artifact.Hash,
            Results = Cells(rows),
        };
    }

    /// <summary>
    /// The cells of one stored eval_summary table (any run's, by its content address), as <c>metrics diff</c> compares
    /// them; the web view diffs two runs' summaries with this and <see cref="Diff"/>.
    /// </summary>
    public static async Task<EvalSummaryFile> FromSummaryTableAsync(ITableReader summary, string pipelineName, CancellationToken ct = default) => new()
    {
        Pipeline = pipelineName,
        SummaryArtifact = summary.ContentHash,
        Results = Cells(await EvalSummaryReader.ReadAsync(summary, ct)),
    };

    static List<EvalCell> Cells(IReadOnlyList<SummaryRow> rows) => rows.Select(r => new EvalCell
    {
        Checkpoint = r.Checkpoint, CheckpointHash = r.CheckpointHash, Benchmark = r.Benchmark, N = r.Items, Samples = r.Samples,
        Accuracy = r.Accuracy, CiLow = r.CiLow, CiHigh = r.CiHigh, PassAtK = r.PassAtK, K = r.K, MeanTokens = r.MeanTokens,
    }).OrderBy(c => c.Checkpoint, StringComparer.Ordinal).ThenBy(c => c.Benchmark, StringComparer.Ordinal).ToList();

    /// <summary>A summary file, or a store directory (its latest eval run).</summary>
    public static async Task<EvalSummaryFile> LoadAsync(string fileOrStore, CancellationToken ct = default) =>
        Directory.Exists(fileOrStore) ? await FromStoreAsync(new ArtifactStore(fileOrStore), ct: ct) : EvalSummaryFile.Read(fileOrStore);

    /// <summary>GITHUB_SHA / CI_COMMIT_SHA, else <c>git rev-parse HEAD</c> in <paramref name="directory"/>; null when neither is available.</summary>
    public static string? GitCommit(string? directory = null)
    {
        foreach (var v in new[] { "GITHUB_SHA", "CI_COMMIT_SHA" })
            if (Environment.GetEnvironmentVariable(v) is { Length: > 0 } sha) return sha;
        try
        {
            var psi = new ProcessStartInfo("git", "rev-parse HEAD")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                WorkingDirectory = directory ?? Environment.CurrentDirectory,
            };
            using var proc = Process.Start(psi);
            if (proc is null) return null;
            var output = proc.StandardOutput.ReadToEnd().Trim();
            if (!proc.WaitForExit(10_000)) { proc.Kill(); return null; }
            return proc.ExitCode == 0 && output.Length >= 7 ? output : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException) { return null; }
    }

    /// <summary>Cells that fail <c>min_accuracy</c> (per benchmark) or drop more than <c>max_drop</c> below the baseline's same cell.</summary>
    public static List<ThresholdFailure> CheckThresholds(EvalSummaryFile summary, EvalThresholds thresholds, EvalSummaryFile? baseline)
    {
        var failures = new List<ThresholdFailure>();
        foreach (var c in summary.Results)
        {
            var reasons = new List<string>();
            if (thresholds.MinAccuracy.TryGetValue(c.Benchmark, out var min) && c.Accuracy < min)
                reasons.Add($"accuracy {F(c.Accuracy)} < min_accuracy {F(min)}");
            if (thresholds.MaxDrop is double maxDrop && baseline?.Results.FirstOrDefault(b => b.Checkpoint == c.Checkpoint && b.Benchmark == c.Benchmark) is { } before
                && before.Accuracy - c.Accuracy > maxDrop + 1e-12)
                reasons.Add($"accuracy {F(c.Accuracy)} dropped {F(before.Accuracy - c.Accuracy)} from baseline {F(before.Accuracy)} (max_drop {F(maxDrop)})");
            if (reasons.Count > 0) failures.Add(new ThresholdFailure(c.Checkpoint, c.Benchmark, string.Join("; ", reasons)));
        }
        return failures;
    }

    /// <summary>The one line the command prints when thresholds fail.</summary>
    public static string RegressionLine(IReadOnlyList<ThresholdFailure> failures) =>
        "regressed: " + string.Join("; ", failures.Select(f => $"{f.Checkpoint} × {f.Benchmark}: {f.Message}"));

    /// <summary>JUnit XML: one test suite per checkpoint, one test case per checkpoint × benchmark; a failed threshold is a failure.</summary>
    public static XDocument JUnit(EvalSummaryFile summary, IReadOnlyList<ThresholdFailure> failures, string suiteName = "iwsft-eval")
    {
        var failed = failures.ToDictionary(f => (f.Checkpoint, f.Benchmark), f => f.Message);
        var suites = summary.Results.GroupBy(c => c.Checkpoint).Select(g =>
        {
            var cases = g.Select(c =>
            {
                var tc = new XElement("testcase",
                    new XAttribute("classname", $"{suiteName}.{c.Checkpoint}"), new XAttribute("name", c.Benchmark), new XAttribute("time", "0"),
                    new XElement("system-out", Describe(c)));
                if (failed.TryGetValue((c.Checkpoint, c.Benchmark), out var msg))
                    tc.AddFirst(new XElement("failure", new XAttribute("message", msg), new XAttribute("type", "threshold"), $"{c.Checkpoint} × {c.Benchmark}: {msg}\n{Describe(c)}"));
                return tc;
            }).ToList();
            return new XElement("testsuite",
                new XAttribute("name", $"{suiteName}.{g.Key}"), new XAttribute("tests", cases.Count),
                new XAttribute("failures", cases.Count(x => x.Element("failure") is not null)), new XAttribute("errors", 0), new XAttribute("skipped", 0),
                new XAttribute("time", "0"),
                new XElement("properties",
                    new XElement("property", new XAttribute("name", "checkpoint_hash"), new XAttribute("value", g.First().CheckpointHash)),
                    new XElement("property", new XAttribute("name", "commit"), new XAttribute("value", summary.Commit ?? ""))),
                cases);
        }).ToList();
        return new XDocument(new XDeclaration("1.0", "utf-8", null),
            new XElement("testsuites", new XAttribute("name", suiteName),
                new XAttribute("tests", suites.Sum(s => (int)s.Attribute("tests")!)),
                new XAttribute("failures", suites.Sum(s => (int)s.Attribute("failures")!)), new XAttribute("errors", 0), new XAttribute("time", "0"),
                suites));
    }

    public static void WriteJUnit(string path, XDocument doc)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        using var w = new StreamWriter(path, false, new UTF8Encoding(false));
        doc.Save(w);
    }

    static string Describe(EvalCell c) =>
        $"accuracy {F(c.Accuracy)} [{F(c.CiLow)}, {F(c.CiHigh)}] n={c.N} samples={c.Samples}" + (c.PassAtK is double pk ? $" pass@{c.K} {F(pk)}" : "");

    /// <summary>The per-cell change from <paramref name="a"/> to <paramref name="b"/> (like <c>dvc metrics diff</c>): one line per cell in either.</summary>
    public static List<DiffRow> Diff(EvalSummaryFile a, EvalSummaryFile b)
    {
        var keys = a.Results.Select(c => (c.Checkpoint, c.Benchmark)).Union(b.Results.Select(c => (c.Checkpoint, c.Benchmark)))
            .OrderBy(k => k.Checkpoint, StringComparer.Ordinal).ThenBy(k => k.Benchmark, StringComparer.Ordinal);
        return keys.Select(k => new DiffRow(k.Checkpoint, k.Benchmark,
            a.Results.FirstOrDefault(c => c.Checkpoint == k.Checkpoint && c.Benchmark == k.Benchmark),
            b.Results.FirstOrDefault(c => c.Checkpoint == k.Checkpoint && c.Benchmark == k.Benchmark))).ToList();
    }

    public static string FormatDiff(IReadOnlyList<DiffRow> rows)
    {
        var table = new List<string[]> { new[] { "checkpoint", "benchmark", "metric", "old", "new", "change" } };
        foreach (var r in rows)
        {
            string Cell(EvalCell? c, Func<EvalCell, string> f) => c is null ? "-" : f(c);
            table.Add([r.Checkpoint, r.Benchmark, "accuracy",
                Cell(r.Old, c => $"{F(c.Accuracy)} [{F(c.CiLow)}, {F(c.CiHigh)}] n={c.N}"),
                Cell(r.New, c => $"{F(c.Accuracy)} [{F(c.CiLow)}, {F(c.CiHigh)}] n={c.N}"),
                r.Old is null ? "added" : r.New is null ? "removed" : Signed(r.New.Accuracy - r.Old.Accuracy) + (r.Overlap ? "" : " (intervals disjoint)")]);
            if (r.Old?.PassAtK is not null || r.New?.PassAtK is not null)
            {
                int k = (r.New ?? r.Old)!.K;
                table.Add([r.Checkpoint, r.Benchmark, $"pass@{k}", Cell(r.Old, c => c.PassAtK is double v ? F(v) : "-"), Cell(r.New, c => c.PassAtK is double v ? F(v) : "-"),
                    r.Old?.PassAtK is double o && r.New?.PassAtK is double n ? Signed(n - o) : "-"]);
            }
        }
        var widths = Enumerable.Range(0, table[0].Length).Select(i => table.Max(row => row[i].Length)).ToArray();
        return string.Join("\n", table.Select(row => string.Join("  ", row.Select((v, i) => v.PadRight(widths[i]))).TrimEnd())) + "\n";
    }

    static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
    static string Signed(double v) => (v >= 0 ? "+" : "") + v.ToString("0.0000", CultureInfo.InvariantCulture);
}

/// <summary>One cell of a metrics diff; <see cref="Old"/> or <see cref="New"/> is null when the cell is only in one run.</summary>
public sealed record DiffRow(string Checkpoint, string Benchmark, EvalCell? Old, EvalCell? New)
{
    public double? Change => Old is not null && New is not null ? New.Accuracy - Old.Accuracy : null;
    /// <summary>Whether the two 95% intervals overlap (a change inside both intervals is not evidence of a difference).</summary>
    public bool Overlap => Old is null || New is null || (Old.CiLow <= New.CiHigh && New.CiLow <= Old.CiHigh);
}
