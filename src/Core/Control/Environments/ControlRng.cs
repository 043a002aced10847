using IwSft.Core;

namespace IwSft.Control.Environments;

/// <summary>
/// A small deterministic generator (SplitMix64) so that episodes are reproducible bit for bit from a
/// seed on every runtime and platform (System.Random's seeded algorithm is an implementation detail).
/// </summary>
public struct ControlRng
{
    ulong _state;
    double? _spareGaussian;

    public ControlRng(ulong seed) { _state = seed; _spareGaussian = null; }

    /// <summary>A seed derived from several integers (run seed, episode index, purpose), well mixed.</summary>
    public static ulong Derive(params long[] parts)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (var p in parts) h = DeterministicRandom.Mix((h ^ (ulong)p) + 0x9E3779B97F4A7C15UL);
        return h;
    }

    /// <summary>The same SplitMix64 stream as the trainer's <see cref="DeterministicRandom"/>.</summary>
    public ulong NextUInt64() => DeterministicRandom.Next(ref _state);

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)(NextDouble() * n);

    /// <summary>Standard normal (Box–Muller; the second value is kept for the next call).</summary>
    public double Gaussian()
    {
        if (_spareGaussian is { } s) { _spareGaussian = null; return s; }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1)), a = 2 * Math.PI * u2;
        _spareGaussian = r * Math.Sin(a);
        return r * Math.Cos(a);
    }
}
