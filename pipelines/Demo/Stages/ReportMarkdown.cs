using System.Globalization;
using System.Text;
using IwSft.Stages.Evaluate;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>The demo report's text: the seeds table and the verdict on iw-SFT ≥ SFT.</summary>
public static class ReportMarkdown
{
    public static readonly string[] MethodOrder = ["reference", "sft", "sft_q", "iw_sft", "iw_sft_token"];

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

    public static string Render(IReadOnlyList<CheckpointScore> scores, IReadOnlyList<string> facts, MeanField? meanField = null)
    {
        var sb = new StringBuilder("# IwSft demo report\n\n");
        foreach (var f in facts) sb.Append("- ").Append(f).Append('\n');
        if (facts.Count > 0) sb.Append('\n');
        int greedyItems = scores.Select(s => s.GreedyItems).DefaultIfEmpty().Max(), sampledItems = scores.Select(s => s.SampledItems).DefaultIfEmpty().Max();
        sb.Append($"Held-out evaluation: greedy accuracy over {greedyItems} problems, sampled pass@1 (temperature 1, one sample) over {sampledItems}; " +
                  "mean ± sample standard deviation over training seeds. \"Careful\" is the share of answers that show worked steps (greedy; sampled).\n\n");
        sb.Append("| method | seeds | greedy accuracy | sampled pass@1 | careful share (greedy) | careful share (sampled) | per seed (greedy) |\n|---|---|---|---|---|---|---|\n");
        foreach (var method in Order(scores.Select(s => s.Method).Distinct()))
        {
            var rows = scores.Where(s => s.Method == method).OrderBy(s => s.Seed).ToList();
            sb.Append($"| {method} | {(rows[0].Seed is null ? "—" : string.Join(",", rows.Select(r => r.Seed)))} | {MeanStd(rows.Select(r => r.GreedyAccuracy).ToList())} | " +
                      $"{MeanStd(rows.Select(r => r.SampledAccuracy).ToList())} | {MeanStd(rows.Select(r => r.GreedyCarefulShare).ToList())} | " +
                      $"{MeanStd(rows.Select(r => r.SampledCarefulShare).ToList())} | " +
                      $"{string.Join(" ", rows.Select(r => F(r.GreedyAccuracy)))} |\n");
        }
        sb.Append('\n');
        if (meanField is not null) sb.Append(MeanFieldSection(meanField)).Append('\n');
        sb.Append(DifferenceSection(scores)).Append('\n');
        sb.Append(Verdict(scores)).Append("\n\n![accuracy](accuracy.png)\n\n")
          .Append("Per-benchmark summaries with 95% Wilson intervals, training-loss and importance-weight curves: the `report_greedy` and `report_sampled` stages' reports.\n");
        return sb.ToString();
    }

    /// <summary>The mean-field prediction from the reference's own samples (inputs fixed before any fine-tuning).</summary>
    public static string MeanFieldSection(MeanField mf)
    {
        var sb = new StringBuilder("## Prediction (mean field, from the reference's samples, before fine-tuning)\n\n");
        sb.Append($"Inputs measured on π_ref's samples: careful share α_ref = {F(mf.CarefulShare)}, careful accuracy {F(mf.CarefulAccuracy)}, " +
                  $"shortcut accuracy {F(mf.ShortcutAccuracy)}, completion lengths {mf.CarefulLength.ToString("0.0", CultureInfo.InvariantCulture)} / " +
                  $"{mf.ShortcutLength.ToString("0.0", CultureInfo.InvariantCulture)} tokens. D+ careful share s⁺ = {F(mf.CuratedCarefulShare)} " +
                  $"(unreliable-but-correct share {F(mf.CuratedShortcutShare)}). Stationary arm probability α per method; greedy takes the likelier arm " +
                  "(per-arm accuracies as sampled).\n\n");
        sb.Append("| method | α (sampled careful share) | sampled accuracy | greedy careful share | greedy accuracy |\n|---|---|---|---|---|\n");
        var sft = mf.Sft;
        foreach (var p in new[] { sft, mf.IwSftSequence, mf.IwSftToken, mf.IwSftExactRatio })
            sb.Append($"| {p.Method} | {F(p.CarefulProbability)} | {F(p.SampledAccuracy)} | {F(p.GreedyCarefulShare)} | {F(p.GreedyAccuracy)} |\n");
        sb.Append("\nPredicted difference − SFT (greedy accuracy; greedy careful share; sampled careful share): ");
        sb.Append(string.Join("; ", new[] { mf.IwSftSequence, mf.IwSftToken }.Select(p =>
            $"{p.Method} {S(p.GreedyAccuracy - sft.GreedyAccuracy)}, {S(p.GreedyCarefulShare - sft.GreedyCarefulShare)}, {S(p.CarefulProbability - sft.CarefulProbability)}")));
        sb.Append(". (iw_sft_exact, the bandit's full sequence ratio, is the theory's limit and is not trained.)\n");
        return sb.ToString();
    }

    /// <summary>Two-sided 95% Student t quantile for <paramref name="df"/> degrees of freedom (1.960 beyond 30).</summary>
    public static double TQuantile975(int df) => df switch
    {
        < 1 => double.NaN,
        <= 30 => T975[df - 1],
        _ => 1.959964,
    };

    static readonly double[] T975 =
    [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314,
        2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];

    /// <summary>Paired-by-seed difference method − SFT: mean and 95% t interval (n − 1 df) over the seeds both have.</summary>
    public static (double Mean, double Low, double High, int N) PairedDifference(IReadOnlyList<CheckpointScore> scores, string method, Func<CheckpointScore, double> value)
    {
        var sft = scores.Where(s => s.Method == "sft" && s.Seed is not null).ToDictionary(s => s.Seed!.Value);
        var d = scores.Where(s => s.Method == method && s.Seed is int seed && sft.ContainsKey(seed)).OrderBy(s => s.Seed)
            .Select(s => value(s) - value(sft[s.Seed!.Value])).ToList();
        if (d.Count == 0) return (double.NaN, double.NaN, double.NaN, 0);
        double mean = d.Average();
        if (d.Count == 1) return (mean, double.NaN, double.NaN, 1);
        double sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (d.Count - 1)), half = TQuantile975(d.Count - 1) * sd / Math.Sqrt(d.Count);
        return (mean, mean - half, mean + half, d.Count);
    }

    public static string DifferenceSection(IReadOnlyList<CheckpointScore> scores)
    {
        var sb = new StringBuilder("## Measured difference − SFT (paired by seed, 95% t interval, n − 1 df)\n\n");
        sb.Append("| method | seeds | greedy accuracy | greedy careful share | sampled pass@1 | sampled careful share |\n|---|---|---|---|---|---|\n");
        foreach (var method in Order(scores.Select(s => s.Method).Distinct()).Where(m => m is not "sft" and not "reference"))
        {
            var cells = new Func<CheckpointScore, double>[] { s => s.GreedyAccuracy, s => s.GreedyCarefulShare, s => s.SampledAccuracy, s => s.SampledCarefulShare }
                .Select(v => PairedDifference(scores, method, v)).ToList();
            sb.Append($"| {method} | {cells[0].N} | {string.Join(" | ", cells.Select(Interval))} |\n");
        }
        return sb.ToString();
    }

    static string Interval((double Mean, double Low, double High, int N) d) =>
        d.N == 0 ? "—" : double.IsNaN(d.Low) ? S(d.Mean) : $"{S(d.Mean)} [{S(d.Low)}, {S(d.High)}]";

    static string S(double v) => v.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture);

    /// <summary>Whether the measurement agrees with the theory's iw-SFT ≥ SFT, stated against the seed spread.</summary>
    public static string Verdict(IReadOnlyList<CheckpointScore> scores)
    {
        var lines = new List<string>();
        foreach (var method in new[] { "iw_sft", "iw_sft_token" })
        {
            var (mean, low, high, n) = PairedDifference(scores, method, s => s.GreedyAccuracy);
            if (n == 0) continue;
            string verdict = n < 2 ? "one seed: no interval"
                : low > 0 ? "ahead of SFT (the 95% interval excludes 0)"
                : high < 0 ? "BEHIND SFT (the 95% interval excludes 0)"
                : "no difference from SFT resolved (the 95% interval contains 0)";
            lines.Add($"**{method} − SFT (greedy accuracy, {n} seeds):** {Interval((mean, low, high, n))}: {verdict}.");
        }
        return lines.Count == 0 ? "No SFT / iw-SFT pair to compare." : string.Join("\n", lines);
    }
}
