using IwSft.Core;
namespace IwSft.Stages.Curate.Select;

/// <summary>One pool record as the selection sees it.</summary>
/// <param name="BenchmarkRule">Name of the benchmark rule it matched, or null.</param>
public sealed record SelectCandidate(string Id, string? Domain, long? TraceLength, string? BenchmarkRule);

public sealed record SelectDecision(int Index, bool Selected, string Reason, string Detail, int? Order);

/// <summary>
/// The s1 selection algorithm (Muennighoff et al. 2025, data notebook; DESIGN.md section 3):
/// <list type="number">
/// <item>take every benchmark-related record (any <see cref="BenchmarkRule"/> matched);</item>
/// <item>then, until the target size: draw a domain — uniformly over the domains that still have records while
/// fewer than <see cref="SelectConfig.UniformUntil"/> are selected, afterwards with probability proportional to
/// that domain's count among the benchmark records (uniform again if none of those domains has records left) —
/// rank that domain's remaining records by trace length, longest first (ties by id), and take the record of
/// rank r with probability 2^-r / Σ 2^-k. A domain leaves the draw when it runs out.</item>
/// </list>
/// Records with no domain or no trace length cannot be drawn in step 2. Every input index gets exactly one decision.
/// </summary>
public static class S1kSelector
{
    public const string SelectedBenchmark = "selected:benchmark";
    public const string SelectedDiversity = "selected:diversity";
    public const string NotSelected = "not_selected";

    public static List<SelectDecision> Select(IReadOnlyList<SelectCandidate> pool, SelectConfig config, IRandomSource rng)
    {
        var decisions = new SelectDecision?[pool.Count];
        int order = 0;
        var benchmarkMix = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < pool.Count; i++)
        {
            var c = pool[i];
            if (c.BenchmarkRule is null) continue;
            decisions[i] = new(i, true, SelectedBenchmark, $"rule={c.BenchmarkRule} domain={c.Domain ?? "-"}", order++);
            if (c.Domain != null) benchmarkMix[c.Domain] = benchmarkMix.GetValueOrDefault(c.Domain) + 1;
        }

        // Remaining records per domain, longest trace first; ties by id so the ranking is a function of the data.
        var byDomain = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < pool.Count; i++)
        {
            if (decisions[i] != null || pool[i].Domain is null || pool[i].TraceLength is null) continue;
            if (!byDomain.TryGetValue(pool[i].Domain!, out var list)) byDomain[pool[i].Domain!] = list = new();
            list.Add(i);
        }
        foreach (var list in byDomain.Values)
            list.Sort((a, b) => pool[b].TraceLength!.Value.CompareTo(pool[a].TraceLength!.Value) is var cmp and not 0
                ? cmp : string.CompareOrdinal(pool[a].Id, pool[b].Id));
        var available = byDomain.Keys.ToList();

        while (order < config.TargetSize && available.Count > 0)
        {
            bool uniform = order < config.UniformUntil;
            string phase;
            int di;
            double mixTotal = uniform ? 0 : available.Sum(d => (double)benchmarkMix.GetValueOrDefault(d));
            if (uniform || mixTotal == 0)
            {
                phase = uniform ? "uniform" : "uniform-fallback";
                di = Math.Min((int)(rng.NextDouble() * available.Count), available.Count - 1);
            }
            else
            {
                phase = "benchmark-mix";
                double u = rng.NextDouble() * mixTotal, acc = 0;
                di = available.Count - 1;
                for (int k = 0; k < available.Count; k++)
                {
                    acc += benchmarkMix.GetValueOrDefault(available[k]);
                    if (u < acc) { di = k; break; }
                }
            }
            string domain = available[di];
            var ranked = byDomain[domain];
            int rank = SampleRank(ranked.Count, rng);
            int index = ranked[rank];
            decisions[index] = new(index, true, SelectedDiversity, $"phase={phase} domain={domain} rank={rank}/{ranked.Count}", order++);
            ranked.RemoveAt(rank);
            if (ranked.Count == 0) available.RemoveAt(di);
        }

        for (int i = 0; i < pool.Count; i++)
            decisions[i] ??= new(i, false, NotSelected,
                pool[i].Domain is null ? "no domain" : pool[i].TraceLength is null ? "no trace length"
                    : $"domain={pool[i].Domain} not drawn", null);
        return decisions.Select(d => d!).ToList();
    }

    /// <summary>A rank r in [0, n) with probability 2^-r / (2 - 2^(1-n)).</summary>
    public static int SampleRank(int n, IRandomSource rng)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        double total = 2.0 - Math.Pow(2.0, 1 - n);
        double u = rng.NextDouble() * total, acc = 0, w = 1;
        for (int r = 0; r < n; r++)
        {
            acc += w;
            if (u < acc) return r;
            w *= 0.5;
        }
        return n - 1;
    }
}
