namespace IwSft.Stages.Evaluate;

/// <summary>Evaluation statistics: pass@k, Wilson intervals, mean ± std over seeds.</summary>
public static class Metrics
{
    /// <summary>z for a two-sided 95% interval (the 0.975 quantile of the standard normal).</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>
    /// Unbiased pass@k for one problem with <paramref name="n"/> samples of which <paramref name="c"/>
    /// are correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed as
    /// 1 - Π_{i=n-c+1..n} (1 - k/i), which never forms the large binomials.
    /// </summary>
    public static double PassAtK(int n, int c, int k)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"n must be positive, got {n}");
        if (c < 0 || c > n) throw new ArgumentOutOfRangeException(nameof(c), $"c must be in [0, n={n}], got {c}");
        if (k <= 0 || k > n) throw new ArgumentOutOfRangeException(nameof(k), $"k must be in [1, n={n}], got {k}");
        if (n - c < k) return 1.0;
        double allWrong = 1.0;
        for (int i = n - c + 1; i <= n; i++) allWrong *= 1.0 - (double)k / i;
        return 1.0 - allWrong;
    }

    /// <summary>
    /// Wilson score interval for a proportion p̂ = successes / n at normal quantile z. Unlike the
    /// normal (Wald) interval it stays inside [0, 1] and does not collapse to a point at 0 or n successes.
    /// Successes may be fractional (a mean over samples per item, counted over items).
    /// </summary>
    public static (double Low, double High) Wilson(double successes, int n, double z = Z95)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"n must be positive, got {n}");
        if (successes < 0 || successes > n) throw new ArgumentOutOfRangeException(nameof(successes), $"successes must be in [0, {n}], got {successes}");
        double p = successes / n, z2 = z * z;
        double denom = 1 + z2 / n;
        double center = (p + z2 / (2 * n)) / denom;
        double half = z / denom * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        return (Math.Max(0, center - half), Math.Min(1, center + half));
    }

    /// <summary>Mean and sample standard deviation (n - 1 in the denominator; 0 for a single value).</summary>
    public static (double Mean, double Std) MeanStd(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("mean of no values");
        double mean = values.Average();
        if (values.Count == 1) return (mean, 0);
        double ss = values.Sum(v => (v - mean) * (v - mean));
        return (mean, Math.Sqrt(ss / (values.Count - 1)));
    }
}
