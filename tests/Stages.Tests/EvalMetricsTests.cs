using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

public class EvalMetricsTests
{
    [Theory]
    // 1 - C(n-c,k)/C(n,k), computed by hand:
    [InlineData(5, 2, 2, 0.7)]             // 1 - C(3,2)/C(5,2) = 1 - 3/10
    [InlineData(5, 2, 1, 0.4)]             // k=1 is c/n
    [InlineData(10, 3, 5, 11.0 / 12)]      // 1 - C(7,5)/C(10,5) = 1 - 21/252
    [InlineData(4, 0, 2, 0.0)]
    [InlineData(4, 3, 2, 1.0)]             // n-c < k: every k-subset holds a correct one
    [InlineData(16, 1, 4, 0.25)]           // 1 - C(15,4)/C(16,4) = 1 - 1365/1820
    public void PassAtKMatchesTheBinomialFormula(int n, int c, int k, double expected) =>
        Assert.Equal(expected, Metrics.PassAtK(n, c, k), 12);

    [Fact]
    public void PassAtKIsStableForLargeN()
    {
        // C(1000, 500) overflows a double; the product form does not need it. Exact: 1 - C(990,10)/C(1000,10).
        double exact = 1.0;
        for (int i = 0; i < 10; i++) exact *= (990.0 - i) / (1000.0 - i);
        Assert.Equal(1 - exact, Metrics.PassAtK(1000, 10, 10), 12);
        Assert.InRange(Metrics.PassAtK(1000, 1, 500), 0.5 - 1e-12, 0.5 + 1e-12); // = k/n for c=1
    }

    [Fact]
    public void PassAtKRejectsBadArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.PassAtK(4, 5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.PassAtK(4, 1, 5));
    }

    [Fact]
    public void WilsonIntervalMatchesHandComputedValues()
    {
        // 5/10: centre 0.5, half-width z/(1+z²/n)·sqrt(p(1-p)/n + z²/4n²) = 0.2634069 (published: 0.2366, 0.7634)
        var (lo, hi) = Metrics.Wilson(5, 10);
        Assert.Equal(0.2365931, lo, 6);
        Assert.Equal(0.7634069, hi, 6);
        // 0/10: [0, z²/(n+z²)] = [0, 3.8414588/13.8414588]
        (lo, hi) = Metrics.Wilson(0, 10);
        Assert.Equal(0, lo, 12);
        Assert.Equal(0.2775328, hi, 6);
        // 30/30 mirrors 0/30.
        var (l0, h0) = Metrics.Wilson(0, 30);
        var (l1, h1) = Metrics.Wilson(30, 30);
        Assert.Equal(1 - h0, l1, 12);
        Assert.Equal(1 - l0, h1, 12);
    }

    [Fact]
    public void MeanStdUsesTheSampleStandardDeviation()
    {
        var (m, s) = Metrics.MeanStd([0.2, 0.4, 0.6]);
        Assert.Equal(0.4, m, 12);
        Assert.Equal(0.2, s, 12);
        Assert.Equal((0.3, 0.0), Metrics.MeanStd([0.3]));
    }
}
