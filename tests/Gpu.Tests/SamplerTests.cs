using IwSft.Core;
using IwSft.Gpu.Training;

namespace IwSft.Gpu.Tests;

public class SamplerTests
{
    [Fact]
    public void Percentile_concatenation_repeats_better_records_with_exact_counts()
    {
        // returns 1..100: p90 = 1 + 0.9·99 = 90.1 → 91..100 (10 records); p95 = 95.05 → 96..100 (5);
        // p98 = 98.02 → 99, 100 (2). Total 17; return 100 appears 3 times, 97 twice, 92 once.
        var returns = Enumerable.Range(1, 100).Select(i => (double)i).Reverse().ToArray();
        var picked = Samplers.PercentileStratifiedConcatenation(returns);
        Assert.Equal(17, picked.Length);
        var counts = picked.GroupBy(i => returns[i]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3, counts[100]); Assert.Equal(3, counts[99]);
        Assert.Equal(2, counts[98]); Assert.Equal(2, counts[96]);
        Assert.Equal(1, counts[95]); Assert.Equal(1, counts[91]);
        Assert.False(counts.ContainsKey(90));
        // blocks in percentile order, records in original order inside a block (returns are descending)
        Assert.Equal(new[] { 100.0, 99, 98, 97, 96, 95, 94, 93, 92, 91 }, picked[..10].Select(i => returns[i]));
        Assert.Equal(new[] { 100.0, 99, 98, 97, 96, 100, 99 }, picked[10..].Select(i => returns[i]));
    }

    [Fact]
    public void Percentile_concatenation_with_ties_and_custom_percentiles()
    {
        // returns [0, 5, 5, 10]: p50 at position 1.5 → 5 → indices 1, 2, 3; p100 → 10 → index 3.
        var picked = Samplers.PercentileStratifiedConcatenation([0, 5, 5, 10], [50, 100]);
        Assert.Equal(new[] { 1, 2, 3, 3 }, picked);
        Assert.Empty(Samplers.PercentileStratifiedConcatenation([], null));
        Assert.Throws<ArgumentException>(() => Samplers.PercentileStratifiedConcatenation([1, double.NaN]));
    }

    [Fact]
    public void Weighted_sampler_is_seeded_never_draws_zero_weights_and_follows_the_weights()
    {
        double[] weights = [1, 0, 3, 0, 6];
        var a = Samplers.WeightedWithReplacement(weights, 20_000, new DeterministicRandom(7));
        var b = Samplers.WeightedWithReplacement(weights, 20_000, new DeterministicRandom(7));
        Assert.Equal(a, b);
        Assert.DoesNotContain(1, a);
        Assert.DoesNotContain(3, a);
        // expected fractions 0.1, 0.3, 0.6; binomial sd ≤ sqrt(0.25/20000) = 0.0035 → 6 sd = 0.021
        Assert.Equal(0.1, a.Count(i => i == 0) / 20_000.0, 0.021);
        Assert.Equal(0.3, a.Count(i => i == 2) / 20_000.0, 0.021);
        Assert.Equal(0.6, a.Count(i => i == 4) / 20_000.0, 0.021);
        Assert.NotEqual(a, Samplers.WeightedWithReplacement(weights, 20_000, new DeterministicRandom(8)));
        Assert.Throws<ArgumentException>(() => Samplers.WeightedWithReplacement([0, 0], 1, new DeterministicRandom(1)));
        Assert.Throws<ArgumentException>(() => Samplers.WeightedWithReplacement([1, -1], 1, new DeterministicRandom(1)));
    }

    [Fact]
    public void Permutation_is_a_seeded_permutation()
    {
        var p = DeterministicRandom.ForStream(42, 3).Permutation(50);
        Assert.Equal(Enumerable.Range(0, 50), p.Order());
        Assert.Equal(p, DeterministicRandom.ForStream(42, 3).Permutation(50));
        Assert.NotEqual(p, DeterministicRandom.ForStream(42, 4).Permutation(50));
    }
}
