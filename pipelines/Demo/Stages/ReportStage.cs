using System.Globalization;
using System.Text;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Evaluate;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>The iw-SFT weight constants the mean-field prediction assumes: the trainer's (the authors') defaults.</summary>
public sealed class ReportConfig
{
    public double SequenceTemperature { get; set; } = 1.0;
    public double SequenceClipMax { get; set; } = 16.0;
    public double TokenClipEpsilon { get; set; } = 0.8;
}

/// <summary>One evaluated checkpoint: its accuracies and how often its greedy answer showed worked steps.</summary>
public sealed record CheckpointScore(string Checkpoint, string Method, int? Seed, int GreedyItems, double GreedyAccuracy,
    int SampledItems, double SampledAccuracy, double GreedyCarefulShare, double SampledCarefulShare = double.NaN);

/// <summary>
/// Stage kind <c>demo_report</c>: the demo's headline report. Reads both evaluate stages' <c>eval_results</c>
/// (greedy and sampled), the decontamination decisions and the verified samples, and writes the
/// per-checkpoint table (<c>demo_summary</c>) and <c>report.md</c> + <c>accuracy.png</c>: mean ± sample std over
/// seeds per method, greedy accuracy next to sampled pass@1 and the share of worked-step answers, the
/// contamination and D+ counts, and whether the measurement agrees with iw-SFT ≥ SFT. Every number comes
/// from the input tables. The generic per-benchmark summaries and training curves are the eval area's
/// <c>eval_report</c> stages beside it.
/// </summary>
public sealed class ReportStage(string name, ReportConfig? config = null) : Stage<ReportConfig>(name, config ?? new ReportConfig())
{
    public const string GreedyInput = "greedy";
    public const string SampledInput = "sampled";
    public const string ContaminationInput = "contamination";
    public const string VerifiedInput = "verified";
    public const string CuratedInput = "curated";
    public const string SummaryOutput = "summary";
    public const string ReportOutput = "report";
    public const string ReportFile = "report.md";

    public override string Kind => "demo.report";
    public override int Version => 2;
    public override IReadOnlyList<PortSpec> Inputs =>
    [
        PortSpec.Table(GreedyInput, "eval_results"), PortSpec.Table(SampledInput, "eval_results"),
        PortSpec.Table(ContaminationInput, "decisions", optional: true), PortSpec.Table(VerifiedInput, "demo_completions", optional: true),
        PortSpec.Table(CuratedInput, "candidates", optional: true),
    ];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(SummaryOutput, "demo_summary"), PortSpec.Dir(ReportOutput)];

    static async Task<Dictionary<string, (int Items, int Correct, int Careful)>> TallyAsync(ITableReader reader, CancellationToken ct)
    {
        var tally = new Dictionary<string, (int, int, int)>(StringComparer.Ordinal);
        await foreach (var b in reader.ReadBatchesAsync(ct))
            for (int r = 0; r < b.Length; r++)
            {
                var label = b.GetString("checkpoint", r)!;
                var (n, c, k) = tally.GetValueOrDefault(label);
                bool careful = DemoRows.BehaviourOf(b.GetString("response", r) ?? "") == "careful";
                tally[label] = (n + 1, c + (b.GetBool("correct", r) == true ? 1 : 0), k + (careful ? 1 : 0));
            }
        return tally;
    }

    public override async Task RunAsync(IStageContext ctx)
    {
        var ct = ctx.CancellationToken;
        var greedy = await TallyAsync(ctx.ReadTable(GreedyInput), ct);
        var sampled = await TallyAsync(ctx.ReadTable(SampledInput), ct);
        var scores = greedy.Keys.Union(sampled.Keys).Order(StringComparer.Ordinal).Select(label =>
        {
            var (method, seed) = IwSft.Stages.Reporting.EvalSummarizer.ParseLabel(label);
            var g = greedy.GetValueOrDefault(label);
            var s = sampled.GetValueOrDefault(label);
            return new CheckpointScore(label, method, seed, g.Items, g.Items == 0 ? double.NaN : (double)g.Correct / g.Items,
                s.Items, s.Items == 0 ? double.NaN : (double)s.Correct / s.Items, g.Items == 0 ? double.NaN : (double)g.Careful / g.Items,
                s.Items == 0 ? double.NaN : (double)s.Careful / s.Items);
        }).ToList();

        var builder = new BatchBuilder(TableSchema.Get("demo_summary"));
        foreach (var sc in scores)
        {
            builder.Set("checkpoint", sc.Checkpoint).Set("method", sc.Method).Set("seed", sc.Seed)
                .Set("greedy_items", sc.GreedyItems).Set("greedy_accuracy", sc.GreedyAccuracy)
                .Set("sampled_items", sc.SampledItems).Set("sampled_accuracy", sc.SampledAccuracy)
                .Set("greedy_careful_share", sc.GreedyCarefulShare).EndRow();
        }
        await using (var w = ctx.WriteTable(SummaryOutput)) await w.WriteAsync(builder.Build(), ct);

        var facts = new List<string>();
        MeanField? meanField = null;
        if (ctx.HasInput(ContaminationInput))
        {
            long checkedRows = 0, contaminated = 0;
            await foreach (var b in ctx.ReadTable(ContaminationInput).ReadBatchesAsync(ct))
                for (int r = 0; r < b.Length; r++) { checkedRows++; if (b.GetBool("kept", r) == false) contaminated++; }
            facts.Add($"Decontamination (word 8-grams against the {greedy.Values.FirstOrDefault().Items} held-out problems): {checkedRows} train problems checked, **{contaminated} contaminated**.");
            ctx.SetMetric("contaminated", contaminated);
        }
        if (ctx.HasInput(VerifiedInput))
        {
            long n = 0, correct = 0, careful = 0, carefulCorrect = 0, carefulChars = 0, shortcutChars = 0;
            await foreach (var b in ctx.ReadTable(VerifiedInput).ReadBatchesAsync(ct))
                for (int r = 0; r < b.Length; r++)
                {
                    n++;
                    bool ok = b.GetBool("correct", r) == true, c = b.GetString("domain", r) == "careful";
                    if (ok) correct++;
                    if (c) { careful++; if (ok) carefulCorrect++; }
                    if (c) carefulChars += (b.GetString("trace", r) ?? "").Length; else shortcutChars += (b.GetString("trace", r) ?? "").Length;
                }
            long shortcut = n - careful, shortcutCorrect = correct - carefulCorrect;
            facts.Add(string.Create(CultureInfo.InvariantCulture,
                $"Reference samples: {n}, of which {correct} correct (D+). Careful: {careful} ({Pct(careful, n)}), right {Pct(carefulCorrect, careful)}; " +
                $"shortcut: {shortcut} ({Pct(shortcut, n)}), right {Pct(shortcutCorrect, shortcut)}. Careful share of D+: {Pct(carefulCorrect, correct)}; " +
                $"unreliable-but-correct (shortcut) share of D+: {Pct(shortcutCorrect, correct)}."));
            if (careful > 0 && shortcut > 0)
            {
                // One character is one token (the demo's tokenizer); +1 for the end-of-turn token in the loss.
                meanField = new MeanField((double)careful / n, (double)carefulCorrect / careful, (double)shortcutCorrect / shortcut,
                    (double)carefulChars / careful + 1, (double)shortcutChars / shortcut + 1, Config.SequenceTemperature, Config.SequenceClipMax, Config.TokenClipEpsilon);
                ctx.SetMetric("reference_careful_share", meanField.CarefulShare);
                ctx.SetMetric("curated_shortcut_share", meanField.CuratedShortcutShare);
            }
        }

        if (ctx.HasInput(CuratedInput))
            facts.Add($"Curated set D+ after the filter (the fine-tuning data): {ctx.ReadTable(CuratedInput).RowCount} samples.");

        var dir = ctx.OutputDirectory(ReportOutput);
        ReportPlots.Accuracy(scores, Path.Combine(dir, "accuracy.png"));
        var md = ReportMarkdown.Render(scores, facts, meanField);
        await File.WriteAllTextAsync(Path.Combine(dir, ReportFile), md, ct);
        foreach (var (method, mean) in ReportMarkdown.MethodMeans(scores, sc => sc.GreedyAccuracy)) ctx.SetMetric($"greedy.{method}", mean);
        ctx.Log(md);
    }

    static string Pct(long a, long b) => b == 0 ? "n/a" : ((double)a / b).ToString("P1", CultureInfo.InvariantCulture);
}
