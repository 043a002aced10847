namespace IwSft.Gpu.Control.Environments;

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
        foreach (var p in parts) h = Mix(h ^ (ulong)p);
        return h;
    }

    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

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
