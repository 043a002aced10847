using IwSft.Core;
namespace IwSft.Gpu.Training;

/// <summary>
/// SFT(Q): which examples are drawn, and how often. Pure functions of their inputs and a seed.
/// </summary>
public static class Samplers
{
    /// <summary>
    /// <paramref name="count"/> indices drawn with replacement, index i with probability w_i / Σw
    /// (inverse-CDF over the cumulative weights). Zero-weight records are never drawn.
    /// </summary>
    public static int[] WeightedWithReplacement(IReadOnlyList<double> weights, int count, DeterministicRandom random)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        var cumulative = new double[weights.Count];
        double total = 0;
        for (int i = 0; i < weights.Count; i++)
        {
            double w = weights[i];
            if (!double.IsFinite(w) || w < 0)
                throw new ArgumentException($"sampling weight of record {i} is {w}; weights must be finite and >= 0", nameof(weights));
            total += w;
            cumulative[i] = total;
        }
        if (count > 0 && total <= 0) throw new ArgumentException("all sampling weights are zero: nothing can be drawn", nameof(weights));
        var result = new int[count];
        for (int k = 0; k < count; k++)
        {
            double u = random.NextDouble() * total;
            // First index whose cumulative weight exceeds u: skips zero-weight records (equal cumulative).
            int lo = 0, hi = cumulative.Length - 1;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (cumulative[mid] > u) hi = mid; else lo = mid + 1;
            }
            result[k] = lo;
        }
        return result;
    }

    /// <summary>The authors' control percentiles: 90th, 95th and 98th of the returns.</summary>
    public static readonly IReadOnlyList<double> DefaultReturnPercentiles = [90.0, 95.0, 98.0];

    /// <summary>
    /// The control SFT(Q) data set: for each percentile p, the indices of records whose return is at
    /// least the p-th percentile of all returns, concatenated in percentile order (records in their
    /// original order inside each block). A record above the 98th percentile thus appears three times,
    /// one between the 95th and 98th twice. Percentiles interpolate linearly between order statistics
    /// (numpy's default): position (n − 1) · p / 100 in the sorted returns. With <paramref name="strict"/>, a record
    /// must be strictly above the cut-off, as the authors' control code (return &gt; np.percentile(...)); the two
    /// differ only for a record whose return equals the cut-off exactly.
    /// </summary>
    public static int[] PercentileStratifiedConcatenation(IReadOnlyList<double> returns, IReadOnlyList<double>? percentiles = null, bool strict = false)
    {
        ArgumentNullException.ThrowIfNull(returns);
        percentiles ??= DefaultReturnPercentiles;
        if (returns.Count == 0) return [];
        for (int i = 0; i < returns.Count; i++)
            if (!double.IsFinite(returns[i])) throw new ArgumentException($"return of record {i} is {returns[i]}; returns must be finite", nameof(returns));
        var sorted = returns.Order().ToArray();
        var result = new List<int>();
        foreach (var p in percentiles)
        {
            double threshold = Percentile(sorted, p);
            for (int i = 0; i < returns.Count; i++)
                if (strict ? returns[i] > threshold : returns[i] >= threshold) result.Add(i);
        }
        return result.ToArray();
    }

    /// <summary>Linear-interpolation percentile of ascending <paramref name="sorted"/> (numpy "linear").</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double percent)
    {
        if (percent is < 0 or > 100 || double.IsNaN(percent)) throw new ArgumentOutOfRangeException(nameof(percent), "percentile must be in [0, 100]");
        if (sorted.Count == 0) throw new ArgumentException("no values", nameof(sorted));
        double pos = (sorted.Count - 1) * percent / 100.0;
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        double frac = pos - lo;
        return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
    }
}
