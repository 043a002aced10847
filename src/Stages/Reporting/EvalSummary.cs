using System.Text.RegularExpressions;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Reporting;

/// <summary>One graded sample (a row of eval_results, the columns the summary needs).</summary>
public sealed record ResultRow(string Checkpoint, string CheckpointHash, string Benchmark, string ItemId, int Sample, bool Correct, int Tokens);

/// <summary>A row of eval_summary.</summary>
public sealed record SummaryRow(
    string Checkpoint, string Method, int? Seed, string CheckpointHash, string Benchmark, int Items, int Samples,
    double Accuracy, double CiLow, double CiHigh, double? PassAtK, int K, double MeanTokens);

/// <summary>Accuracy of one method on one benchmark over its checkpoints (seeds).</summary>
public sealed record MethodRow(string Method, string Benchmark, int Checkpoints, double Mean, double Std, double CiLow, double CiHigh, IReadOnlyList<double> PerCheckpoint);

/// <summary>
/// Turns per-sample results into accuracy per checkpoint × benchmark. Accuracy is pass@1: the mean
/// over items of the fraction of an item's n samples that are correct. The 95% interval is Wilson's
/// over items (successes = accuracy × items): samples of one item are not independent draws, so the
/// number of items, not of samples, is the sample size.
/// </summary>
public static partial class EvalSummarizer
{
    /// <summary>"sft_s3" → ("sft", 3); "iw_sft-seed2" → ("iw_sft", 2); "base" → ("base", null).</summary>
    public static (string Method, int? Seed) ParseLabel(string label)
    {
        var m = SeedSuffixRegex().Match(label);
        return m.Success ? (label[..m.Index], int.Parse(m.Groups["s"].Value)) : (label, null);
    }

    [GeneratedRegex(@"[_-](?:s|seed)(?<s>\d+)$")] private static partial Regex SeedSuffixRegex();

    public static List<SummaryRow> Summarize(IEnumerable<ResultRow> rows, int k, IReadOnlyDictionary<string, string>? methods = null)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be >= 1, got {k}");
        var summary = new List<SummaryRow>();
        foreach (var group in rows.GroupBy(r => (r.Checkpoint, r.Benchmark)).OrderBy(g => g.Key.Checkpoint, StringComparer.Ordinal).ThenBy(g => g.Key.Benchmark, StringComparer.Ordinal))
        {
            var hashes = group.Select(r => r.CheckpointHash).Distinct().ToList();
            if (hashes.Count != 1)
                throw new InvalidDataException($"checkpoint '{group.Key.Checkpoint}' appears with {hashes.Count} different content hashes on {group.Key.Benchmark}");
            var items = group.GroupBy(r => r.ItemId).Select(g =>
            {
                var samples = g.Select(r => r.Sample).ToList();
                if (samples.Distinct().Count() != samples.Count)
                    throw new InvalidDataException($"checkpoint '{group.Key.Checkpoint}', benchmark '{group.Key.Benchmark}', item '{g.Key}': sample indices repeat");
                return (N: g.Count(), C: g.Count(r => r.Correct));
            }).ToList();
            double accuracy = items.Average(i => (double)i.C / i.N);
            var (lo, hi) = Metrics.Wilson(accuracy * items.Count, items.Count);
            int minN = items.Min(i => i.N);
            double? passAtK = minN >= k ? items.Average(i => Metrics.PassAtK(i.N, i.C, k)) : null;
            var (parsedMethod, seed) = ParseLabel(group.Key.Checkpoint);
            string method = methods is not null && methods.TryGetValue(group.Key.Checkpoint, out var explicitMethod) ? explicitMethod : parsedMethod;
            summary.Add(new SummaryRow(group.Key.Checkpoint, method, seed, hashes[0], group.Key.Benchmark, items.Count,
                items.Max(i => i.N), accuracy, lo, hi, passAtK, k, group.Average(r => (double)r.Tokens)));
        }
        return summary;
    }

    /// <summary>Mean ± sample std of accuracy over the checkpoints (seeds) of each method, per benchmark.</summary>
    public static List<MethodRow> ByMethod(IEnumerable<SummaryRow> summary) =>
        summary.GroupBy(s => (s.Method, s.Benchmark))
            .OrderBy(g => g.Key.Benchmark, StringComparer.Ordinal).ThenBy(g => g.Key.Method, StringComparer.Ordinal)
            .Select(g =>
            {
                var accs = g.OrderBy(s => s.Seed ?? 0).ThenBy(s => s.Checkpoint, StringComparer.Ordinal).Select(s => s.Accuracy).ToList();
                var (mean, std) = Metrics.MeanStd(accs);
                // With one checkpoint the interval is that checkpoint's Wilson interval; with several, mean ± std.
                var (lo, hi) = accs.Count == 1 ? (g.First().CiLow, g.First().CiHigh) : (mean - std, mean + std);
                return new MethodRow(g.Key.Method, g.Key.Benchmark, accs.Count, mean, std, lo, hi, accs);
            }).ToList();
}
