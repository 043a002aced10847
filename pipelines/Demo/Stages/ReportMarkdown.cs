using System.Globalization;
using System.Text;
using IwSft.Stages.Evaluate;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>The demo report's text: the seeds table and the verdict on iw-SFT ≥ SFT.</summary>
public static class ReportMarkdown
{
    public static readonly string[] MethodOrder = ["reference", "sft", "sft_q", "iw_sft"];

    /// <summary>Mean over the method's checkpoints (seeds) of <paramref name="value"/>, in report order.</summary>
    public static IEnumerable<(string Method, double Mean)> MethodMeans(IReadOnlyList<CheckpointScore> scores, Func<CheckpointScore, double> value) =>
        Order(scores.Select(s => s.Method).Distinct()).Select(m => (m, scores.Where(s => s.Method == m).Average(value)));

    static IEnumerable<string> Order(IEnumerable<string> methods) =>
        methods.OrderBy(m => Array.IndexOf(MethodOrder, m) is var i and >= 0 ? i : int.MaxValue).ThenBy(m => m, StringComparer.Ordinal);

    public static string MeanStd(IReadOnlyList<double> values)
    {
        var (mean, std) = Metrics.MeanStd(values);
        return values.Count == 1 ? F(mean) : $"{F(mean)} ± {F(std)}";
    }

    static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);

    public static string Render(IReadOnlyList<CheckpointScore> scores, IReadOnlyList<string> facts)
    {
        var sb = new StringBuilder("# IwSft demo report\n\n");
        foreach (var f in facts) sb.Append("- ").Append(f).Append('\n');
        if (facts.Count > 0) sb.Append('\n');
        int greedyItems = scores.Select(s => s.GreedyItems).DefaultIfEmpty().Max(), sampledItems = scores.Select(s => s.SampledItems).DefaultIfEmpty().Max();
        sb.Append($"Held-out evaluation: greedy accuracy over {greedyItems} problems, sampled pass@1 (temperature 1, one sample) over {sampledItems}; " +
                  "mean ± sample standard deviation over training seeds. \"Careful\" is the share of greedy answers that show worked steps.\n\n");
        sb.Append("| method | seeds | greedy accuracy | sampled pass@1 | careful share | per seed (greedy) |\n|---|---|---|---|---|---|\n");
        foreach (var method in Order(scores.Select(s => s.Method).Distinct()))
        {
            var rows = scores.Where(s => s.Method == method).OrderBy(s => s.Seed).ToList();
            sb.Append($"| {method} | {(rows[0].Seed is null ? "—" : string.Join(",", rows.Select(r => r.Seed)))} | {MeanStd(rows.Select(r => r.GreedyAccuracy).ToList())} | " +
                      $"{MeanStd(rows.Select(r => r.SampledAccuracy).ToList())} | {MeanStd(rows.Select(r => r.GreedyCarefulShare).ToList())} | " +
                      $"{string.Join(" ", rows.Select(r => F(r.GreedyAccuracy)))} |\n");
        }
        sb.Append('\n').Append(Verdict(scores)).Append("\n\n![accuracy](accuracy.png)\n\n")
          .Append("Per-benchmark summaries with 95% Wilson intervals, training-loss and importance-weight curves: the `report_greedy` and `report_sampled` stages' reports.\n");
        return sb.ToString();
    }

    /// <summary>Whether the measurement agrees with the theory's iw-SFT ≥ SFT, stated against the seed spread.</summary>
    public static string Verdict(IReadOnlyList<CheckpointScore> scores)
    {
        var sft = scores.Where(s => s.Method == "sft").Select(s => s.GreedyAccuracy).ToList();
        var iw = scores.Where(s => s.Method == "iw_sft").Select(s => s.GreedyAccuracy).ToList();
        if (sft.Count == 0 || iw.Count == 0) return "No SFT / iw-SFT pair to compare.";
        var (ms, ss) = Metrics.MeanStd(sft);
        var (mi, si) = Metrics.MeanStd(iw);
        double diff = mi - ms, spread = Math.Max(ss, si);
        string verdict = diff >= 0
            ? (diff > spread ? "agrees with the prediction iw-SFT ≥ SFT (difference larger than the seed spread)" : "is consistent with iw-SFT ≥ SFT, but the difference is within the seed spread")
            : (-diff > spread ? "does NOT agree with iw-SFT ≥ SFT (SFT is ahead by more than the seed spread)" : "does not show iw-SFT ≥ SFT: SFT is ahead, within the seed spread");
        return $"**iw-SFT vs SFT (greedy):** {F(mi)} vs {F(ms)} (difference {diff.ToString("+0.000;-0.000", CultureInfo.InvariantCulture)}, largest seed std {F(spread)}): the measurement {verdict}.";
    }
}
