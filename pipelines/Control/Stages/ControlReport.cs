using System.Globalization;
using System.Text;
using IwSft.Gpu.Control;

namespace IwSft.Pipelines.Control;

/// <summary>One evaluated policy (a control_results row).</summary>
public sealed record ControlResultRow(string Environment, string Method, int Seed, int Episodes, double MeanReturn, double NormalisedScore,
                                      double RandomReturn, double ExpertReturn);

/// <summary>One learning-curve point of one (environment, method, seed).</summary>
public sealed record ControlCurvePoint(string Environment, string Method, int Seed, int Step, double NormalisedScore);

/// <summary>iw-SFT(Q)'s weight diagnostics of one seed over one curve interval (means over its updates, ending at Step).</summary>
public sealed record ControlWeightDiagnostic(string Environment, int Seed, int Step, double Batch, double EssMean, double EssMin,
                                             double MaxShareMean, double MaxShareMax, double LogRatioMean);

/// <summary>
/// What one training stage ran, read back from its training log (so a <c>--set</c> override shows up as it ran): updates,
/// trajectories and real (unpadded) steps per batch, and the warm-up (the updates run below the peak learning rate, which
/// a warm-up from 0 over W updates reaches at update W + 1; 0 when the rate never rises).
/// </summary>
public sealed record ControlTrainingSize(string Environment, string Method, bool FineTune, string Batching, int Updates, double Trajectories,
                                         double Steps, int WarmupUpdates)
{
    /// <summary>From a training stage's <c>training_log.csv</c> (seed 0's rows); <paramref name="source"/> names the file in errors.</summary>
    public static ControlTrainingSize FromLog(string environment, string method, bool fineTune, string batching, string csv, string source)
    {
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length == 0) throw new InvalidDataException($"{source}: empty training log");
        var header = lines[0].Split(',');
        int Column(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i : throw new InvalidDataException($"{source}: no column '{name}' in the header");
        int seed = Column("seed"), rate = Column("learning_rate"), trajectories = Column("trajectories"), steps = Column("steps");
        var rows = lines.Skip(1).Select(l => l.Split(',')).Where(f => f[seed] == "0").ToList();
        if (rows.Count == 0) return new ControlTrainingSize(environment, method, fineTune, batching, 0, double.NaN, double.NaN, 0);
        double Value(string[] f, int c) => double.Parse(f[c], NumberStyles.Float, CultureInfo.InvariantCulture);
        var rates = rows.Select(f => Value(f, rate)).ToArray();
        int peak = 0;
        for (int i = 1; i < rates.Length; i++) if (rates[i] > rates[peak]) peak = i;
        return new ControlTrainingSize(environment, method, fineTune, batching, rows.Count, rows.Average(f => Value(f, trajectories)),
            rows.Average(f => Value(f, steps)), peak);
    }

    /// <summary>How this run departs from the authors' sizes (the stage's defaults, emmyqin/iw_sft_control main.py); empty when it does not.</summary>
    public IReadOnlyList<string> Departures()
    {
        var authors = new ControlTrainConfig();
        var inv = CultureInfo.InvariantCulture;
        var list = new List<string>();
        if (Batching != authors.Batching) list.Add($"{Batching} (authors: whole {authors.Batching})");
        int batch = FineTune ? authors.FineTuneBatchSize : authors.BcBatchSize, updates = FineTune ? authors.FineTuneSteps : authors.BcSteps;
        int warmup = FineTune ? authors.FineTuneWarmupSteps : 0;
        if (Batching == authors.Batching && Math.Abs(Trajectories - batch) > 1e-9) list.Add(string.Format(inv, "{0:0.#} episodes per batch (authors: {1})", Trajectories, batch));
        if (Updates != updates) list.Add(string.Format(inv, "{0:N0} updates (authors: {1:N0})", Updates, updates));
        if (WarmupUpdates != warmup) list.Add(string.Format(inv, "warm-up {0} (authors: {1})", WarmupUpdates, warmup));
        return list;
    }
}

/// <summary>The paper-style table and learning-curve plots of the control reproduction.</summary>
public static class ControlReport
{
    static readonly ControlMethod[] Columns = Enum.GetValues<ControlMethod>();

    /// <summary>The paper's medium-replay-v2 numbers (Qin &amp; Springenberg 2025), for side-by-side reading.</summary>
    public static readonly (string Task, double[] Scores)[] PaperTable =
    [
        ("halfcheetah-medium-replay", [36.6, 40.6, 35.1, 39.3, 40.9]),
        ("hopper-medium-replay", [18.1, 75.9, 79.0, 84.9, 85.0]),
        ("walker2d-medium-replay", [26.0, 62.5, 58.8, 66.2, 75.8]),
    ];

    /// <summary>Mean and sample standard deviation (n − 1; 0 for a single value).</summary>
    public static (double Mean, double Std) MeanStd(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return (double.NaN, double.NaN);
        double mean = values.Average();
        if (values.Count == 1) return (mean, 0);
        double ss = values.Sum(v => (v - mean) * (v - mean));
        return (mean, Math.Sqrt(ss / (values.Count - 1)));
    }

    /// <summary>
    /// Whether the means follow the paper's ordering iw-SFT(Q) ≥ SFT(Q) ≥ SFT &gt; BC; returns the check per link.
    /// </summary>
    public static (bool Holds, string Detail) PaperOrdering(IReadOnlyDictionary<ControlMethod, double> means)
    {
        double iw = means[ControlMethod.IwSftQ], q = means[ControlMethod.SftQ], sft = means[ControlMethod.Sft], bc = means[ControlMethod.Bc];
        bool a = iw >= q, b = q >= sft, c = sft > bc;
        string Mark(bool x) => x ? "✓" : "✗";
        return (a && b && c, $"iw-SFT(Q) ≥ SFT(Q) {Mark(a)}, SFT(Q) ≥ SFT {Mark(b)}, SFT > BC {Mark(c)}");
    }

    public static string Markdown(IReadOnlyList<ControlResultRow> rows, IReadOnlyList<string> plotFiles, string title,
                                  IReadOnlyList<ControlWeightDiagnostic>? diagnostics = null, IReadOnlyList<ControlTrainingSize>? sizes = null)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"# {title}").AppendLine();
        var environments = rows.Select(r => r.Environment).Distinct().ToList();
        int seeds = rows.Select(r => r.Seed).Distinct().Count();
        int episodes = rows.Count > 0 ? rows.Max(r => r.Episodes) : 0;
        sb.AppendLine($"Normalised score (0 = uniform random policy, 100 = the project's expert), mean ± sample std over {seeds} training seed(s), " +
                      $"each policy evaluated on {episodes} episodes from evaluation seeds disjoint from the data and learning-curve seeds.").AppendLine();
        sb.AppendLine("| Environment | " + string.Join(" | ", Columns.Select(ControlRecipe.Label)) + " | paper ordering |");
        sb.AppendLine("|---|" + string.Concat(Columns.Select(_ => "---:|")) + "---|");
        var verdicts = new List<string>();
        foreach (var env in environments)
        {
            var means = new Dictionary<ControlMethod, double>();
            var cells = new List<string>();
            foreach (var m in Columns)
            {
                var scores = rows.Where(r => r.Environment == env && r.Method == ControlRecipe.Key(m)).OrderBy(r => r.Seed).Select(r => r.NormalisedScore).ToList();
                var (mean, std) = MeanStd(scores);
                means[m] = mean;
                cells.Add(scores.Count == 0 ? "—" : string.Format(inv, "{0:F1} ± {1:F1}", mean, std));
            }
            string order = Columns.All(means.ContainsKey) && means.Values.All(double.IsFinite) ? PaperOrdering(means).Detail : "incomplete";
            sb.AppendLine($"| {env} | {string.Join(" | ", cells)} | {order} |");
            if (means.Values.All(double.IsFinite)) verdicts.Add($"- **{env}**: ordering {(PaperOrdering(means).Holds ? "matches" : "does not match")} the paper's (iw-SFT(Q) ≥ SFT(Q) ≥ SFT > BC): {PaperOrdering(means).Detail}.");
        }
        sb.AppendLine().AppendLine(string.Join(Environment.NewLine, verdicts)).AppendLine();
        if (sizes is { Count: > 0 })
        {
            var authors = new ControlTrainConfig();
            sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "Training sizes as run, read from each stage's training log (seed 0), against the authors' " +
                "(emmyqin/iw_sft_control main.py: BC {0} whole episodes per batch × {1:N0} updates; fine-tunes {2} × {3:N0}, warm-up {4}):",
                authors.BcBatchSize, authors.BcSteps, authors.FineTuneBatchSize, authors.FineTuneSteps, authors.FineTuneWarmupSteps)).AppendLine();
            sb.AppendLine("| Environment | Method | batching | trajectories per batch | real steps per batch | updates | warm-up | departure from the authors' |")
              .AppendLine("|---|---|---|---:|---:|---:|---:|---|");
            foreach (var z in sizes.OrderBy(z => environments.IndexOf(z.Environment)).ThenBy(z => Array.IndexOf(Columns, ControlRecipe.ParseKey(z.Method))))
            {
                var departures = z.Departures();
                sb.AppendLine(string.Format(inv, "| {0} | {1} | {2} | {3:0.#} | {4:N0} | {5:N0} | {6} | {7} |", z.Environment, ControlRecipe.Label(ControlRecipe.ParseKey(z.Method)),
                    z.Batching, z.Trajectories, z.Steps, z.Updates, z.WarmupUpdates, departures.Count == 0 ? "none" : string.Join("; ", departures)));
            }
            sb.AppendLine();
        }
        sb.AppendLine("Reference returns:").AppendLine();
        foreach (var env in environments)
        {
            var r = rows.First(x => x.Environment == env);
            sb.AppendLine(string.Format(inv, "- {0}: random {1:F1}, expert {2:F1}", env, r.RandomReturn, r.ExpertReturn));
        }
        sb.AppendLine().AppendLine("Per seed (normalised score):").AppendLine();
        sb.AppendLine("| Environment | Method | Seed | Mean return | Normalised |").AppendLine("|---|---|---:|---:|---:|");
        foreach (var r in rows.OrderBy(r => environments.IndexOf(r.Environment)).ThenBy(r => Array.IndexOf(Columns, ControlRecipe.ParseKey(r.Method))).ThenBy(r => r.Seed))
            sb.AppendLine(string.Format(inv, "| {0} | {1} | {2} | {3:F1} | {4:F1} |", r.Environment, ControlRecipe.Label(ControlRecipe.ParseKey(r.Method)), r.Seed, r.MeanReturn, r.NormalisedScore));
        if (diagnostics is { Count: > 0 })
        {
            sb.AppendLine().AppendLine("iw-SFT(Q) weights over training (mean over seeds of each interval's mean; B = trajectories per batch; " +
                                       "ESS = 1/Σ(w/Σw)², share = max w/Σw, log-ratio = mean_b (log q(τ) − log π_ref(τ))/len(τ)):").AppendLine();
            sb.AppendLine("| Environment | Update | B | ESS mean | ESS min | max share mean | max share max | log q − log π_ref per step |")
              .AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var g in diagnostics.GroupBy(d => (d.Environment, d.Step)).OrderBy(g => environments.IndexOf(g.Key.Environment)).ThenBy(g => g.Key.Step))
                sb.AppendLine(string.Format(inv, "| {0} | {1} | {2:F0} | {3:F1} | {4:F1} | {5:F3} | {6:F3} | {7:E2} |", g.Key.Environment, g.Key.Step,
                    g.Average(d => d.Batch), g.Average(d => d.EssMean), g.Min(d => d.EssMin), g.Average(d => d.MaxShareMean), g.Max(d => d.MaxShareMax),
                    g.Average(d => d.LogRatioMean)));
        }
        sb.AppendLine().AppendLine("Paper (D4RL medium-replay-v2, for comparison of the ordering only; different tasks):").AppendLine();
        sb.AppendLine("| Task | " + string.Join(" | ", Columns.Select(ControlRecipe.Label)) + " |");
        sb.AppendLine("|---|" + string.Concat(Columns.Select(_ => "---:|")));
        foreach (var (task, s) in PaperTable) sb.AppendLine($"| {task} | {string.Join(" | ", s.Select(x => x.ToString("F1", inv)))} |");
        if (plotFiles.Count > 0)
        {
            sb.AppendLine().AppendLine("Learning curves (normalised score on learning-curve seeds, mean over training seeds):").AppendLine();
            foreach (var f in plotFiles) sb.AppendLine($"![{Path.GetFileNameWithoutExtension(f)}]({f})");
        }
        return sb.ToString();
    }

    /// <summary>
    /// One PNG per environment: the fine-tuning methods' curves over fine-tune updates (mean over seeds) and
    /// the final BC and BC(10%) scores as horizontal lines (they train for a different number of updates).
    /// Returns the file names written.
    /// </summary>
    public static List<string> PlotCurves(IReadOnlyList<ControlCurvePoint> points, IReadOnlyList<ControlResultRow> results, string directory)
    {
        var files = new List<string>();
        foreach (var env in points.Select(p => p.Environment).Concat(results.Select(r => r.Environment)).Distinct())
        {
            var plot = new ScottPlot.Plot();
            foreach (var m in new[] { ControlMethod.Sft, ControlMethod.SftQ, ControlMethod.IwSftQ })
            {
                var byStep = points.Where(p => p.Environment == env && p.Method == ControlRecipe.Key(m))
                    .GroupBy(p => p.Step).OrderBy(g => g.Key).ToList();
                if (byStep.Count == 0) continue;
                var scatter = plot.Add.Scatter(byStep.Select(g => (double)g.Key).ToArray(), byStep.Select(g => g.Average(p => p.NormalisedScore)).ToArray());
                scatter.LegendText = ControlRecipe.Label(m);
            }
            foreach (var m in new[] { ControlMethod.Bc, ControlMethod.BcTop })
            {
                var scores = results.Where(r => r.Environment == env && r.Method == ControlRecipe.Key(m)).Select(r => r.NormalisedScore).ToList();
                if (scores.Count == 0) continue;
                var line = plot.Add.HorizontalLine(scores.Average());
                line.LegendText = $"{ControlRecipe.Label(m)} (final)";
                line.LinePattern = ScottPlot.LinePattern.Dashed;
            }
            plot.Title($"{env}: fine-tuning from π_ref");
            plot.XLabel("fine-tune update");
            plot.YLabel("normalised score");
            plot.ShowLegend();
            string file = $"learning_curves_{env}.png";
            plot.SavePng(Path.Combine(directory, file), 900, 560);
            files.Add(file);
        }
        return files;
    }
}
